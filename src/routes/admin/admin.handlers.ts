import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../context.js";
import type { AppDeps } from "../../deps.js";
import { toRootKeyJson, toWorkspaceJson } from "../../lib/serialize.js";
import { createWorkspace } from "../../services/workspaces.js";
import type { createWorkspaceRoute } from "./admin.routes.js";

export function adminHandlers(deps: AppDeps) {
  const createWorkspaceHandler: RouteHandler<typeof createWorkspaceRoute, AppEnv> = async (c) => {
    const origin = {
      actorType: "admin" as const,
      actorId: null,
      requestId: c.get("requestId"),
      ip: c.get("clientIp"),
    };
    const { workspace, rootKey } = await createWorkspace(deps, origin, c.req.valid("json").name);
    return c.json(
      { workspace: toWorkspaceJson(workspace), rootKey: { key: rootKey.key, ...toRootKeyJson(rootKey.row) } },
      201,
    );
  };
  return { createWorkspace: createWorkspaceHandler };
}
