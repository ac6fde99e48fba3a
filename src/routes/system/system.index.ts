import { OpenAPIHono } from "@hono/zod-openapi";
import { bearerToken } from "../../auth/bearer.js";
import { authenticationFailure } from "../../auth/failure-throttle.js";
import type { AppEnv } from "../../context.js";
import type { AppDeps } from "../../deps.js";
import { secretEquals } from "../../keys/hash.js";
import { ApiError } from "../../lib/errors.js";
import { healthzRoute, metricsRoute, readyzRoute } from "./system.routes.js";

/** Health, readiness and metrics: unauthenticated except /metrics when KEYMINT_METRICS_TOKEN is set. */
export function systemRouter(deps: AppDeps) {
  return new OpenAPIHono<AppEnv>()
    .openapi(healthzRoute, (c) => c.json({ status: "ok" as const }, 200))
    .openapi(readyzRoute, async (c) => {
      if (!(await deps.repos.ready()))
        throw new ApiError("UNAVAILABLE", "The database is not usable.", undefined, { "retry-after": "1" });
      return c.json({ status: "ok" as const }, 200);
    })
    .openapi(metricsRoute, async (c) => {
      const token = deps.config.KEYMINT_METRICS_TOKEN;
      if (token !== undefined && !secretEquals(bearerToken(c.req.header("authorization")) ?? "", token)) {
        const detail = "Send the metrics token as Authorization: Bearer <token>.";
        // Throttled per client as the admin token is: an operator-chosen token is guessed no faster.
        throw authenticationFailure(deps.tokenThrottle, c.get("clientIp"), deps.clock.now(), detail);
      }
      const body = await deps.metrics.registry.metrics();
      return c.text(body, 200, { "content-type": deps.metrics.registry.contentType });
    });
}
