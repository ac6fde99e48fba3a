import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../context.js";
import type { AppDeps } from "../deps.js";
import { isValidRootKey, type ParsedKey, parseKey } from "../keys/format.js";
import { sha256Equals, sha256Hex } from "../keys/hash.js";
import { ApiError } from "../lib/errors.js";
import { bearerToken } from "./bearer.js";
import type { Caller } from "./caller.js";

/**
 * Authenticates `Authorization: Bearer <root key>`. Root keys are cached like verified keys (by the
 * SHA-256 of the key) and dropped from the cache when revoked. Every failure is a 401, as contract §2
 * says: a root key holds 190 random bits, so throttling its guesses (as the operator-chosen admin and
 * metrics tokens are, failure-throttle.ts) would protect nothing and only answer a client something else.
 */
export function rootKeyAuth(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    const token = bearerToken(header);
    const caller = token === undefined ? null : await authenticate(deps, token);
    if (caller === null) {
      const detail =
        header === undefined
          ? "Send a root key as Authorization: Bearer <key>."
          : token === undefined
            ? "The Authorization header must be: Bearer <root key>."
            : "Unknown or revoked root key.";
      throw new ApiError("UNAUTHORIZED", detail);
    }
    deps.usage.recordRootKeyUse(caller.id, deps.clock.now());
    c.set("caller", caller);
    await next();
  };
}

async function authenticate(deps: AppDeps, token: string): Promise<Caller | null> {
  const cached = cachedCaller(deps, token);
  if (cached !== undefined) return cached;
  // A well-formed root key the cache does not hold yet (its SHA-256 is computed again: a miss is rare).
  const digest = sha256Hex(token);
  const parsed = parseKey(token) as ParsedKey; // valid, as cachedCaller checked
  return deps.rootKeyCache.load(digest, async () => {
    const row = await deps.repos.rootKeys.findById(`rk_${parsed.keyId}`);
    if (!row || row.revokedAt !== null || !sha256Equals(digest, row.hash)) return null;
    return {
      id: row.id,
      workspaceId: row.workspaceId,
      ownerId: row.ownerId,
      permissions: new Set(row.permissions),
    };
  });
}

/**
 * The caller a root key stands for when the cache already knows it, without waiting; undefined when
 * it would have to be loaded, null when it is known not to be a valid root key.
 */
export function cachedCaller(deps: Pick<AppDeps, "rootKeyCache">, token: string): Caller | null | undefined {
  // Format and checksum before any cache or database access (contract §1).
  return isValidRootKey(token) ? deps.rootKeyCache.cached(sha256Hex(token)) : null;
}
