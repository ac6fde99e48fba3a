import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "../context.js";
import type { AppDeps } from "../deps.js";
import { requestIdPolicy } from "../observability/request-id.js";

/**
 * First middleware of every request: gives it a request id (the client's own when sane), finds the
 * client's address, and afterwards writes one log line and the HTTP metrics. Labels use the matched
 * route template, never the raw path, so their values stay bounded.
 */
export function observeRequests(deps: AppDeps): MiddlewareHandler<AppEnv> {
  const trustProxy = deps.config.KEYMINT_TRUST_PROXY;
  const requestIdFor = requestIdPolicy(deps.config);
  return async (c, next) => {
    const started = performance.now();
    const requestId = requestIdFor(c.req.header("x-request-id"));
    c.set("requestId", requestId);
    c.set("clientIp", clientIp(c, trustProxy));
    // On Node, straight onto the ServerResponse (see security-headers.ts for why).
    const outgoing = c.env?.outgoing;
    outgoing?.setHeader("x-request-id", requestId);
    await next();
    if (outgoing === undefined) c.res.headers.set("x-request-id", requestId);
    deps.requestLog.record({
      requestId,
      method: c.req.method,
      route: routeTemplate(c),
      status: c.res.status,
      durationMs: performance.now() - started,
    });
  };
}

function clientIp(c: Context<AppEnv>, trustProxy: boolean): string | null {
  if (trustProxy) {
    const forwarded = c.req.header("x-forwarded-for")?.split(",")[0]?.trim();
    if (forwarded) return forwarded;
  }
  return c.env?.incoming?.socket.remoteAddress ?? null;
}

/**
 * The template of the route the request matched ("/v1/keys/:id"), also when a middleware answered
 * before it ran (a 401, a 413); "unmatched" when no route matched. Middleware entries are "ALL".
 */
function routeTemplate(c: Context<AppEnv>): string {
  const route = matchedRoutes(c).findLast((entry) => entry.method !== "ALL");
  return route?.path ?? "unmatched";
}
