// The auth scheme is case-insensitive (RFC 9110 §11.1): "bearer" and "BEARER" are "Bearer"; one or more
// spaces come before the token (RFC 6750 §2.1: "Bearer" 1*SP b64token).
const BEARER = /^Bearer +([^\s]+)$/i;

/** The token of an `Authorization: Bearer <token>` header; undefined when absent or malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header)?.[1];
}
