import type { MiddlewareHandler } from "hono";
import { ApiError } from "../lib/errors.js";

/**
 * Refuses a request body sent with a content coding (gzip, br, …): 415 with `Accept-Encoding:
 * identity` (RFC 9110 §15.5.16). Bodies are read as they come, never decompressed, so a compressed
 * one would be taken for JSON, refused as bad UTF-8, or (on the routes that take no body) taken for a
 * body. One check before the guards that read bodies, on every route; a request without a body may
 * carry the header. The body is read only when the header names a coding; Hono keeps the bytes for
 * whoever reads them next.
 */
export function identityCodedBodies(): MiddlewareHandler {
  return async (c, next) => {
    if (isIdentityCoding(c.req.header("content-encoding"))) return next();
    const method = c.req.method;
    if (method === "GET" || method === "HEAD") return next();
    if ((await c.req.arrayBuffer()).byteLength > 0) throw unsupportedEncoding();
    return next();
  };
}

/** No content coding: no header, an empty one, or `identity`. */
function isIdentityCoding(header: string | undefined): boolean {
  const coding = header?.trim().toLowerCase();
  return coding === undefined || coding === "" || coding === "identity";
}

function unsupportedEncoding(): ApiError {
  return new ApiError(
    "UNSUPPORTED_MEDIA_TYPE",
    "Send the request body without a Content-Encoding: it is not decoded.",
    undefined,
    { "accept-encoding": "identity" },
  );
}
