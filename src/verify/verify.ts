import { canSee, type Scope } from "../auth/caller.js";
import type { Argon2Queue } from "../keys/argon2-queue.js";
import { effectiveRemaining } from "../keys/credits.js";
import { isValidKey, type ParsedKey, parseKey } from "../keys/format.js";
import { keyMatchesHash, sha256Hex } from "../keys/hash.js";
import type { Clock } from "../lib/clock.js";
import { toIso } from "../lib/time.js";
import type { Repos } from "../repo/index.js";
import type { VerifyKeyRow } from "../repo/keys.js";
import type { RecordCache } from "./cache.js";
import type { RateLimit, RateLimiter, RateLimitState } from "./rate-limiter.js";
import { LAST_USED_WRITE_INTERVAL_MS, type UsageBuffer } from "./usage-buffer.js";

export const VERIFY_CODES = [
  "VALID",
  "NOT_FOUND",
  "REVOKED",
  "DISABLED",
  "EXPIRED",
  "INSUFFICIENT_SCOPES",
  "RATE_LIMITED",
  "USAGE_EXCEEDED",
] as const;

export type VerifyCode = (typeof VERIFY_CODES)[number];

/** What the cache holds for a key: its record, never a verdict (time-based checks run on every call). */
export interface CachedKey {
  id: string;
  workspaceId: string;
  keyspaceId: string;
  ownerId: string | null;
  name: string | null;
  meta: Record<string, unknown>;
  scopes: string[];
  scopeSet: ReadonlySet<string>;
  enabled: boolean;
  expiresAt: number | null;
  revokedAt: number | null;
  /** The key whose credits this key spends, and whose rate window it counts in: itself, or its successor after a rotation. */
  creditsKeyId: string;
  hasCredits: boolean;
  ratelimit: RateLimit | null;
  /** The last use written or on its way there: moved forward by verify (see LAST_USED_WRITE_INTERVAL_MS). */
  lastUsedAt: number | null;
}

export type VerifyCache = RecordCache<CachedKey>;

export interface VerifyDeps {
  repos: Repos;
  argon2: Argon2Queue;
  keyCache: VerifyCache;
  rateLimiter: RateLimiter;
  usage: UsageBuffer;
  clock: Clock;
}

/** Whose keys the caller may verify: a workspace, and within it one owner for owner-bound root keys. */
export type VerifyScope = Scope;

export interface VerifyRequest {
  key: string;
  scopes?: string[];
  cost: number;
}

export interface VerifyResult {
  valid: boolean;
  code: VerifyCode;
  keyId?: string;
  keyspaceId?: string;
  ownerId?: string | null;
  name?: string | null;
  meta?: Record<string, unknown>;
  scopes?: string[];
  expiresAt?: string | null;
  remaining?: number;
  ratelimit?: { limit: number; remaining: number; resetAt: string };
}

const NOT_FOUND: VerifyResult = Object.freeze({ valid: false, code: "NOT_FOUND" });

/** Ends a cache load, uncached, for a key the loading caller may not verify (see verifyKey). */
class NotTheCallersKey extends Error {
  readonly owner: Scope;
  constructor(row: Scope) {
    super("not the caller's key");
    this.owner = { workspaceId: row.workspaceId, ownerId: row.ownerId };
  }
}

/**
 * The verify path, top to bottom: format and checksum, the cache (on a miss: lookup → hash compare),
 * the caller's right to see the key, then in contract order REVOKED, DISABLED, EXPIRED,
 * INSUFFICIENT_SCOPES, RATE_LIMITED, USAGE_EXCEEDED → VALID.
 */
export async function verifyKey(
  deps: VerifyDeps,
  caller: VerifyScope,
  request: VerifyRequest,
): Promise<VerifyResult> {
  // 1. Format and checksum, before any cache or database access (contract §1).
  if (!isValidKey(request.key)) return NOT_FOUND;
  // 2. The cache, by the key's SHA-256.
  const digest = sha256Hex(request.key);
  let key = deps.keyCache.cached(digest);
  if (key === undefined) {
    // 3. The lookup by keyId and a constant-time hash compare (argon2 off the event loop).
    const parsed = parseKey(request.key) as ParsedKey; // valid, as checked above
    const load = () =>
      deps.keyCache.load(digest, async () => {
        const row = await deps.repos.keys.findForVerify(`key_${parsed.keyId}`);
        if (row === undefined || row.start !== parsed.start) return null;
        // Another tenant's key is not hashed for this caller: a key id is public (it is in `start`), so
        // a forged key naming a real argon2id key would otherwise cost any caller, of any workspace, a
        // full argon2id computation (each forged string a fresh one). Nothing is cached: for its own
        // tenant the same digest may be the real key.
        if (!canSee(caller, row)) throw new NotTheCallersKey(row);
        if (!(await keyMatchesHash(request.key, digest, row.hash, deps.argon2, row.workspaceId))) return null;
        // The last use written or on its way: a record loaded again (after a change or an eviction)
        // times the next write from where verify left it, not from the older stored time.
        return toCachedKey(deps.usage.withKeyLastWrite(row));
      });
    try {
      key = await load();
    } catch (error) {
      if (!(error instanceof NotTheCallersKey)) throw error;
      // A load this call shared with another tenant's call of the same key: made again when it is ours.
      if (!canSee(caller, error.owner)) return NOT_FOUND;
      key = await load().catch((again) => {
        if (again instanceof NotTheCallersKey) return null;
        throw again;
      });
    }
  }
  // 4. Only a key the caller may see (contract §2: another workspace's or owner's key is NOT_FOUND).
  if (key === null || !canSee(caller, key)) return NOT_FOUND;

  const now = deps.clock.now();

  // 5. The checks, first failure decides.
  if (key.revokedAt !== null) return refusal(deps, key, "REVOKED", now);
  if (!key.enabled) return refusal(deps, key, "DISABLED", now);
  if (key.expiresAt !== null && now >= key.expiresAt) return refusal(deps, key, "EXPIRED", now);
  if (request.scopes !== undefined && !holdsAll(key.scopeSet, request.scopes)) {
    return refusal(deps, key, "INSUFFICIENT_SCOPES", now);
  }

  // Windows are kept by the key whose credits are spent (itself, or once rotated its successor), which
  // takes over the old key's window at the rotation: in its grace period the old key counts in the new
  // one's, so a rotation never multiplies a rate limit, as it never does credits (contract §4).
  let ratelimit: RateLimitState | undefined;
  if (key.ratelimit !== null) {
    const taken = deps.rateLimiter.take(key.creditsKeyId, key.ratelimit, now);
    if (!taken.allowed) return refusal(deps, key, "RATE_LIMITED", now, taken);
    ratelimit = taken;
  }

  // 6. Credits last, in one atomic statement: N concurrent calls on k credits give exactly min(N, k) VALID.
  let remaining: number | undefined;
  if (key.hasCredits) {
    const left = await deps.repos.keys.spendCredits(key.creditsKeyId, request.cost, now);
    if (left === null) {
      // Not spent: the balance was short when the spend ran, or the pool this record names is gone or was
      // made unlimited since (a PATCH committed during this verify): see which.
      const pool = await deps.repos.keys.findRowById(key.creditsKeyId);
      if (pool !== undefined && pool.remaining === null) {
        remaining = undefined; // unlimited now: nothing to spend
      } else if (pool === undefined && request.cost === 0) {
        // A rotated-away key whose successor was deleted in its grace period has a balance of 0 (as its
        // reads show), which a cost of 0 does not exceed.
        remaining = 0;
      } else {
        return refusal(deps, key, "USAGE_EXCEEDED", now, ratelimit);
      }
    } else {
      remaining = left;
    }
  }

  const lastUseDue = key.lastUsedAt === null || now - key.lastUsedAt >= LAST_USED_WRITE_INTERVAL_MS;
  if (lastUseDue) key.lastUsedAt = now;
  deps.usage.recordVerification(key.id, "VALID", now, lastUseDue);
  return result(key, "VALID", remaining, ratelimit);
}

async function refusal(
  deps: VerifyDeps,
  key: CachedKey,
  code: VerifyCode,
  now: number,
  /** The rate window as this call already saw it; else it is read without counting the call. */
  known?: RateLimitState,
): Promise<VerifyResult> {
  deps.usage.recordVerification(key.id, code, now, false);
  let remaining: number | undefined;
  if (key.hasCredits) {
    const pool = await deps.repos.keys.findRowById(key.creditsKeyId);
    remaining = (pool && effectiveRemaining(pool, now)) ?? 0;
  }
  const ratelimit =
    known ?? (key.ratelimit ? deps.rateLimiter.peek(key.creditsKeyId, key.ratelimit, now) : undefined);
  return result(key, code, remaining, ratelimit);
}

function result(
  key: CachedKey,
  code: VerifyCode,
  remaining: number | undefined,
  ratelimit: RateLimitState | undefined,
): VerifyResult {
  const body: VerifyResult = {
    valid: code === "VALID",
    code,
    keyId: key.id,
    keyspaceId: key.keyspaceId,
    ownerId: key.ownerId,
    name: key.name,
    meta: key.meta,
    scopes: key.scopes,
    expiresAt: toIso(key.expiresAt),
  };
  if (remaining !== undefined) body.remaining = remaining;
  if (ratelimit !== undefined) {
    body.ratelimit = {
      limit: ratelimit.limit,
      remaining: ratelimit.remaining,
      resetAt: toIso(ratelimit.resetAt),
    };
  }
  return body;
}

// Most keys have no meta and no scopes: their cached records share these instead of holding empty
// ones each (a Set alone is over 100 bytes, and the cache holds up to KEYMINT_CACHE_MAX records).
const NO_META: Record<string, unknown> = Object.freeze({});
const NO_SCOPES: string[] = Object.freeze([]) as unknown as string[];
const NO_SCOPE_SET: ReadonlySet<string> = new Set();

function toCachedKey(row: VerifyKeyRow): CachedKey {
  const noScopes = row.scopes.length === 0;
  return {
    id: row.id,
    workspaceId: sharedId(row.workspaceId),
    keyspaceId: sharedId(row.keyspaceId),
    ownerId: row.ownerId,
    name: row.name,
    meta: hasFields(row.meta) ? row.meta : NO_META,
    scopes: noScopes ? NO_SCOPES : row.scopes,
    scopeSet: noScopes ? NO_SCOPE_SET : new Set(row.scopes),
    enabled: row.enabled,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    creditsKeyId: row.creditsKeyId ?? row.id,
    hasCredits: row.remaining !== null,
    ratelimit:
      row.ratelimitLimit !== null && row.ratelimitDurationMs !== null
        ? { limit: row.ratelimitLimit, durationMs: row.ratelimitDurationMs }
        : null,
    lastUsedAt: row.lastUsedAt,
  };
}

// Every cached key of a keyspace repeats its workspace and keyspace ids, and SQLite hands out a new
// string per row: records share one copy of each instead (about 80 bytes per record). Only immutable
// strings live here, so sharing them across apps is harmless; the bound keeps it small.
const sharedIds = new Map<string, string>();
const MAX_SHARED_IDS = 10_000;

function sharedId(id: string): string {
  const known = sharedIds.get(id);
  if (known !== undefined) return known;
  if (sharedIds.size >= MAX_SHARED_IDS) sharedIds.clear();
  sharedIds.set(id, id);
  return id;
}

function holdsAll(held: ReadonlySet<string>, wanted: readonly string[]): boolean {
  for (const scope of wanted) if (!held.has(scope)) return false;
  return true;
}

function hasFields(object: Record<string, unknown>): boolean {
  for (const _ in object) return true;
  return false;
}
