import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context.js";
import type { AppDeps } from "../../deps.js";
import { keyHandlers } from "./keys.handlers.js";
import * as routes from "./keys.routes.js";

export function keysRouter(deps: AppDeps) {
  const handlers = keyHandlers(deps);
  // verify is registered before /v1/keys/{id} routes so "verify" is never taken for an id.
  return new OpenAPIHono<AppEnv>()
    .openapi(routes.verifyKeyRoute, handlers.verify)
    .openapi(routes.createKeyRoute, handlers.create)
    .openapi(routes.listKeysRoute, handlers.list)
    .openapi(routes.getKeyRoute, handlers.get)
    .openapi(routes.updateKeyRoute, handlers.update)
    .openapi(routes.rotateKeyRoute, handlers.rotate)
    .openapi(routes.revokeKeyRoute, handlers.revoke)
    .openapi(routes.deleteKeyRoute, handlers.remove)
    .openapi(routes.keyUsageRoute, handlers.usage);
}
