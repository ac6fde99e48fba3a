import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";

const EXPOSED_HEADERS = ["x-request-id", "retry-after", "www-authenticate"];

/** CORS for the listed origins (KEYMINT_CORS_ORIGINS); none are listed by default, and then no CORS runs. */
export function corsForOrigins(origins: readonly string[]): MiddlewareHandler {
  return cors({
    origin: [...origins],
    allowMethods: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
    allowHeaders: ["authorization", "content-type", "x-request-id"],
    exposeHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  });
}

/**
 * The headers corsForOrigins puts on the answer to a request that sent no Origin (a server, not a
 * browser), as a flat name, value list; none when no origin is listed.
 */
export function corsHeadersWithoutOrigin(origins: readonly string[]): string[] {
  if (origins.length === 0) return [];
  return ["access-control-expose-headers", EXPOSED_HEADERS.join(","), "vary", "Origin"];
}
