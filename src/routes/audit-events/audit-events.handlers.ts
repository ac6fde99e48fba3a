import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../context.js";
import type { AppDeps } from "../../deps.js";
import { toAuditEventJson } from "../../lib/serialize.js";
import { listAuditEvents } from "../../services/audit.js";
import type { listAuditEventsRoute } from "./audit-events.routes.js";

export function auditEventHandlers(deps: AppDeps) {
  const list: RouteHandler<typeof listAuditEventsRoute, AppEnv> = async (c) => {
    const caller = c.get("caller");
    const { rows, nextCursor } = await listAuditEvents(deps, caller, c.req.valid("query"));
    return c.json({ data: rows.map(toAuditEventJson), nextCursor }, 200);
  };
  return { list };
}
