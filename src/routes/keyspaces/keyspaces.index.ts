import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context.js";
import type { AppDeps } from "../../deps.js";
import { keyspaceHandlers } from "./keyspaces.handlers.js";
import * as routes from "./keyspaces.routes.js";

export function keyspacesRouter(deps: AppDeps) {
  const handlers = keyspaceHandlers(deps);
  return new OpenAPIHono<AppEnv>()
    .openapi(routes.createKeyspaceRoute, handlers.create)
    .openapi(routes.listKeyspacesRoute, handlers.list)
    .openapi(routes.getKeyspaceRoute, handlers.get)
    .openapi(routes.updateKeyspaceRoute, handlers.update);
}
