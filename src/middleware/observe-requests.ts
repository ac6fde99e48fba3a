import { randomUUID } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "../context.js";
import type { AppDeps } from "../deps.js";
import { scrubSecrets } from "../observability/logger.js";

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * First middleware of every request: gives it a request id (the client's own when sane), finds the
 * client's address, and afterwards writes one log line and the HTTP metrics. Labels use the matched
 * route template, never the raw path, so their values stay bounded.
 */
export function observeRequests(deps: AppDeps): MiddlewareHandler<AppEnv> {
  const trustProxy = deps.config.KEYMINT_TRUST_PROXY;
  // The request line holds five fields of our own making, none of which a redact path can name, so
  // it skips the path walk (the largest part of a log call). The logger's scrubbing of every written
  // line still applies: a client's request id shaped like a key never reaches the log.
  const requestLog = deps.logger.child({}, { redact: [] });
  // A request id is repeated in headers, problem bodies and audit events: never a key, a hash or a token.
  const tokens = [deps.config.KEYMINT_ADMIN_TOKEN, deps.config.KEYMINT_METRICS_TOKEN].filter(
    (token): token is string => token !== undefined,
  );
  const mayEcho = (id: string) =>
    SANE_REQUEST_ID.test(id) && scrubSecrets(id) === id && !tokens.some((token) => id.includes(token));
  return async (c, next) => {
    const started = performance.now();
    const given = c.req.header("x-request-id");
    const requestId = given !== undefined && mayEcho(given) ? given : randomUUID();
    c.set("requestId", requestId);
    c.set("clientIp", clientIp(c, trustProxy));
    // On Node, straight onto the ServerResponse (see security-headers.ts for why).
    const outgoing = c.env?.outgoing;
    outgoing?.setHeader("x-request-id", requestId);
    await next();
    if (outgoing === undefined) c.res.headers.set("x-request-id", requestId);
    const durationMs = performance.now() - started;
    const route = routePath(c) || "unmatched";
    const status = c.res.status;
    const method = c.req.method;
    deps.metrics.recordHttpRequest(method, route, status, durationMs / 1000);
    requestLog.info({ requestId, method, route, status, durationMs: Math.round(durationMs * 1000) / 1000 });
  };
}

function clientIp(c: Context<AppEnv>, trustProxy: boolean): string | null {
  if (trustProxy) {
    const forwarded = c.req.header("x-forwarded-for")?.split(",")[0]?.trim();
    if (forwarded) return forwarded;
  }
  return c.env?.incoming?.socket.remoteAddress ?? null;
}
