import type { MiddlewareHandler } from "hono";

/**
 * Headers every API response carries. Set by hand rather than with hono/secure-headers: an API that
 * answers JSON needs these few, and verify answers thousands of times a second. `no-store` matters
 * most: responses can hold a freshly created key.
 */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const headers = c.res.headers;
    headers.set("cache-control", "no-store");
    headers.set("x-content-type-options", "nosniff");
    headers.set("referrer-policy", "no-referrer");
    headers.set("x-frame-options", "DENY");
    if (!headers.has("content-security-policy")) {
      headers.set("content-security-policy", "default-src 'none'; frame-ancestors 'none'");
    }
  };
}
