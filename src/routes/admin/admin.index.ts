import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context.js";
import type { AppDeps } from "../../deps.js";
import { adminHandlers } from "./admin.handlers.js";
import { createWorkspaceRoute } from "./admin.routes.js";

export function adminRouter(deps: AppDeps) {
  return new OpenAPIHono<AppEnv>().openapi(createWorkspaceRoute, adminHandlers(deps).createWorkspace);
}
