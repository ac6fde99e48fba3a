import { ApiError } from "../lib/errors.js";

/*
 * Request bodies are read as they come, never decompressed: a compressed one would be taken for
 * JSON, or refused as bad UTF-8, or (on the routes that take no body) as a body. Either guard that
 * reads a body asks these first.
 */

/** No content coding: no header, an empty one, or `identity`. */
export function isIdentityCoding(header: string | undefined): boolean {
  const coding = header?.trim().toLowerCase();
  return coding === undefined || coding === "" || coding === "identity";
}

/** RFC 9110 §15.5.16: 415, with Accept-Encoding naming the codings the server reads. */
export function unsupportedEncoding(): ApiError {
  return new ApiError(
    "UNSUPPORTED_MEDIA_TYPE",
    "Send the request body without a Content-Encoding: it is not decoded.",
    undefined,
    { "accept-encoding": "identity" },
  );
}
