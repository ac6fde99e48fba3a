import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context.js";
import type { AppDeps } from "../../deps.js";
import { rootKeyHandlers } from "./root-keys.handlers.js";
import * as routes from "./root-keys.routes.js";

export function rootKeysRouter(deps: AppDeps) {
  const handlers = rootKeyHandlers(deps);
  return new OpenAPIHono<AppEnv>()
    .openapi(routes.createRootKeyRoute, handlers.create)
    .openapi(routes.listRootKeysRoute, handlers.list)
    .openapi(routes.revokeRootKeyRoute, handlers.revoke);
}
