import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../context.js";
import type { AppDeps } from "../deps.js";
import { secretEquals } from "../keys/hash.js";
import { ApiError } from "../lib/errors.js";
import { bearerToken } from "./bearer.js";
import { authenticationFailure } from "./failure-throttle.js";

/** Guards /v1/admin/*: off (404) without KEYMINT_ADMIN_TOKEN, else a constant-time bearer compare. */
export function adminAuth(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const expected = deps.config.KEYMINT_ADMIN_TOKEN;
    if (expected === undefined) throw new ApiError("NOT_FOUND", "No such route.");
    const token = bearerToken(c.req.header("authorization")) ?? "";
    if (!secretEquals(token, expected)) {
      const detail = "Send the admin token as Authorization: Bearer <token>.";
      throw authenticationFailure(deps.tokenThrottle, c.get("clientIp"), deps.clock.now(), detail);
    }
    await next();
  };
}
