import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../context.js";

const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ["cache-control", "no-store"],
  ["x-content-type-options", "nosniff"],
  ["referrer-policy", "no-referrer"],
  ["x-frame-options", "DENY"],
];
const DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'";

/**
 * What every answer carries but the docs page (which has a CSP of its own): the one list the app, the
 * verify fast path and the answers to requests that never reach the app all send.
 */
export const ANSWER_HEADERS: readonly (readonly [string, string])[] = [
  ...SECURITY_HEADERS,
  ["content-security-policy", DEFAULT_CSP],
];

/**
 * Headers every API response carries. Set by hand rather than with hono/secure-headers: an API that
 * answers JSON needs these few, and verify answers thousands of times a second. `no-store` matters
 * most: responses can hold a freshly created key. A route's own content-security-policy (the docs
 * page) is kept.
 *
 * On Node they go straight onto the ServerResponse before the route runs: `writeHead` merges them
 * with the route's headers, and the route's Response keeps @hono/node-server's fast path (touching
 * `c.res.headers` afterwards would build a web Headers object for every response).
 */
export function securityHeaders(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const outgoing = c.env?.outgoing;
    if (outgoing !== undefined) {
      for (const [name, value] of ANSWER_HEADERS) outgoing.setHeader(name, value);
      return next();
    }
    await next();
    const headers = c.res.headers;
    for (const [name, value] of SECURITY_HEADERS) headers.set(name, value);
    if (!headers.has("content-security-policy")) headers.set("content-security-policy", DEFAULT_CSP);
  };
}
