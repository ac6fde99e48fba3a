import type { RouteHandler } from "@hono/zod-openapi";
import { requirePermission } from "../../auth/caller.js";
import type { AppEnv } from "../../context.js";
import type { AppDeps } from "../../deps.js";
import { toAuditEventJson } from "../../lib/serialize.js";
import type { listAuditEventsRoute } from "./audit-events.routes.js";

export function auditEventHandlers(deps: AppDeps) {
  const list: RouteHandler<typeof listAuditEventsRoute, AppEnv> = async (c) => {
    const caller = c.get("caller");
    requirePermission(caller, "audit:read");
    const query = c.req.valid("query");
    const rows = await deps.repos.auditEvents.list({
      workspaceId: caller.workspaceId,
      // An owner-bound root key reads only the events about its owner's keys.
      ownerId: caller.ownerId ?? undefined,
      resourceId: query.resourceId,
      action: query.action,
      beforeSeq: query.cursor === undefined ? undefined : deps.cursors.decode("audit", query.cursor),
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    const nextCursor = rows.length > query.limit && last ? deps.cursors.encode("audit", last.seq) : null;
    return c.json({ data: page.map(toAuditEventJson), nextCursor }, 200);
  };
  return { list };
}
