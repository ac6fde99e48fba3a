import { type Caller, canSee } from "../auth/caller.js";
import type { KeyRow } from "../db/schema.js";
import type { AppDeps } from "../deps.js";
import type { RefillInterval } from "../keys/credits.js";
import { generateKey } from "../keys/format.js";
import { hashKey } from "../keys/hash.js";
import { asksNoChange } from "../lib/changes.js";
import { ApiError, notFound } from "../lib/errors.js";
import { secretScrubber } from "../observability/logger.js";
import type { KeyChanges, KeyStatus } from "../repo/keys.js";
import { auditEvent } from "./audit.js";
import { getKeyspace } from "./keyspaces.js";
import type { ServiceContext } from "./request-context.js";

export interface KeyFields {
  ownerId?: string | null;
  name?: string | null;
  meta?: Record<string, unknown>;
  scopes?: string[];
  expiresAt?: string | null;
  remaining?: number | null;
  refill?: { amount: number; interval: RefillInterval } | null;
  ratelimit?: { limit: number; durationMs: number } | null;
  enabled?: boolean;
}

export interface CreateKeyInput extends KeyFields {
  keyspaceId: string;
}

export interface ListKeysInput {
  keyspaceId?: string;
  ownerId?: string;
  status: KeyStatus;
  limit: number;
  cursor?: string;
}

/**
 * Loads a key the caller may see: another workspace's, or for an owner-bound caller another owner's, is
 * 404. Its lastUsedAt counts verifies not yet written (UsageBuffer.withKeyLastUse), as in every key answered.
 */
export async function findVisibleKey(deps: AppDeps, caller: Caller, id: string): Promise<KeyRow> {
  const row = await deps.repos.keys.findById(id);
  if (!row || !canSee(caller, row)) throw notFound("Key");
  return deps.usage.withKeyLastUse(row);
}

/** The ownerId a caller may give a key: an owner-bound caller only its own (asking for another is 403). */
function ownerFor(caller: Caller, asked: string | null | undefined): string | null | undefined {
  if (caller.ownerId === null || asked === undefined) return asked;
  if (asked !== caller.ownerId)
    throw new ApiError("FORBIDDEN", "This root key manages only keys of its own ownerId.");
  return asked;
}

/**
 * `remaining: null` (no limit) on a key that gets or keeps a refill: a balance of null would never be
 * refilled, and the refill would silently do nothing.
 */
function unlimitedWithRefill(): ApiError {
  return new ApiError("VALIDATION_FAILED", "The request is not valid.", [
    {
      path: "remaining",
      message: "a key with a refill keeps a balance: send refill: null too to make it unlimited",
    },
  ]);
}

/**
 * Whether `now` (the row as the write finds it) still holds what updateKey's checks read of `read`,
 * besides the caller's right to it: whether the key was rotated; for a rotated-away key its expiry
 * (which may only be brought forward); for any other key whether it has a refill and a balance. A
 * rotated-away key's credits are read as its successor's, and changing them is refused before this.
 * Spends and changes to other fields leave all of it as it was.
 */
function sameCheckedState(read: KeyRow, now: KeyRow): boolean {
  if (now.replacedById !== read.replacedById) return false;
  if (now.replacedById !== null) return now.expiresAt === read.expiresAt;
  return (
    (now.refillAmount === null) === (read.refillAmount === null) &&
    (now.remaining === null) === (read.remaining === null)
  );
}

function changedMeanwhile(): ApiError {
  return new ApiError(
    "CONFLICT",
    "The key was changed (rotated, or its credits or refill set) while this change was made; nothing was changed. Read it and try again.",
  );
}

export async function createKey(deps: AppDeps, ctx: ServiceContext, input: CreateKeyInput) {
  const { caller } = ctx;
  const keyspace = await getKeyspace(deps, caller, input.keyspaceId);
  const ownerId = ownerFor(caller, input.ownerId) ?? caller.ownerId;
  // As on PATCH: asking for no limit while the keyspace's default refill applies.
  if (input.remaining === null && input.refill === undefined && keyspace.defaults.refill !== undefined) {
    throw unlimitedWithRefill();
  }

  // Hashed before the clock is read: argon2id hashes finish out of order, and a key's createdAt must
  // follow the order in which keys are stored (the order lists show them in).
  const generated = generateKey(keyspace.prefix);
  const hash = await hashKey(generated.key, keyspace.hashAlgorithm, deps.argon2, {
    tenant: keyspace.workspaceId,
    clientGone: ctx.clientGone,
  });
  const now = deps.clock.now();
  const defaults = keyspace.defaults;
  let expiresAt: number | null = null;
  if (input.expiresAt !== undefined)
    expiresAt = input.expiresAt === null ? null : Date.parse(input.expiresAt);
  else if (defaults.expiresInSeconds !== undefined) expiresAt = now + defaults.expiresInSeconds * 1000;
  const refill = input.refill !== undefined ? input.refill : (defaults.refill ?? null);
  // A key created with a refill and no balance starts full.
  const remaining =
    (input.remaining !== undefined ? input.remaining : defaults.remaining) ?? refill?.amount ?? null;
  const ratelimit = input.ratelimit !== undefined ? input.ratelimit : (defaults.ratelimit ?? null);

  const row: Omit<KeyRow, "seq"> = {
    id: `key_${generated.keyId}`,
    keyspaceId: keyspace.id,
    workspaceId: keyspace.workspaceId,
    ownerId,
    name: input.name ?? null,
    start: generated.start,
    last4: generated.last4,
    hash,
    meta: input.meta ?? {},
    scopes: input.scopes ?? defaults.scopes ?? [],
    enabled: input.enabled ?? true,
    createdAt: now,
    updatedAt: now,
    expiresAt,
    revokedAt: null,
    revokedReason: null,
    lastUsedAt: null,
    remaining,
    refillAmount: refill?.amount ?? null,
    refillInterval: refill?.interval ?? null,
    refilledAt: remaining !== null ? now : null,
    ratelimitLimit: ratelimit?.limit ?? null,
    ratelimitDurationMs: ratelimit?.durationMs ?? null,
    rotatedFromId: null,
    replacedById: null,
    creditsKeyId: null,
  };
  await deps.repos.keys.insert(row, [
    auditEvent(ctx.origin, now, {
      workspaceId: row.workspaceId,
      action: "key.create",
      resourceType: "key",
      resourceId: row.id,
      ownerId,
      details: { keyspaceId: keyspace.id },
    }),
  ]);
  return { key: generated.key, row: { ...row, seq: 0 } };
}

export async function listKeys(deps: AppDeps, caller: Caller, input: ListKeysInput) {
  const ownerId = ownerFor(caller, input.ownerId) ?? caller.ownerId ?? undefined;
  const rows = await deps.repos.keys.list({
    workspaceId: caller.workspaceId,
    keyspaceId: input.keyspaceId,
    ownerId,
    status: input.status,
    now: deps.clock.now(),
    beforeSeq: deps.cursors.before("keys", input.cursor),
    limit: input.limit + 1,
  });
  return deps.cursors.page(
    "keys",
    rows.map((row) => deps.usage.withKeyLastUse(row)),
    input.limit,
  );
}

export async function getKey(deps: AppDeps, caller: Caller, id: string): Promise<KeyRow> {
  return findVisibleKey(deps, caller, id);
}

export async function updateKey(deps: AppDeps, ctx: ServiceContext, id: string, input: KeyFields) {
  const current = await findVisibleKey(deps, ctx.caller, id);
  if (asksNoChange(input)) return current;
  const now = deps.clock.now();
  const changes: KeyChanges = { updatedAt: now };
  if (input.ownerId !== undefined) changes.ownerId = ownerFor(ctx.caller, input.ownerId);
  if (input.name !== undefined) changes.name = input.name;
  if (input.meta !== undefined) changes.meta = input.meta;
  if (input.scopes !== undefined) changes.scopes = input.scopes;
  if (input.enabled !== undefined) changes.enabled = input.enabled;
  if (input.expiresAt !== undefined) {
    changes.expiresAt = input.expiresAt === null ? null : Date.parse(input.expiresAt);
    // A rotation never extends a key's life: a replaced key's expiry can only be brought forward.
    const extendsLife =
      changes.expiresAt === null || (current.expiresAt !== null && changes.expiresAt > current.expiresAt);
    if (current.replacedById !== null && extendsLife) {
      throw new ApiError("CONFLICT", "A rotated-away key's expiry can only be brought forward.");
    }
  }
  // A rotated-away key spends its successor's credits and shows their balance: a balance or refill
  // set on its own row would never be spent, and the answer would not even show it.
  if (current.creditsKeyId !== null && (input.remaining !== undefined || input.refill !== undefined)) {
    throw new ApiError(
      "CONFLICT",
      `This key was rotated and spends the credits of ${current.creditsKeyId}; change remaining or refill there.`,
    );
  }
  if (input.ratelimit !== undefined) {
    changes.ratelimitLimit = input.ratelimit?.limit ?? null;
    changes.ratelimitDurationMs = input.ratelimit?.durationMs ?? null;
  }
  const keepsRefill = input.refill === undefined ? current.refillAmount !== null : input.refill !== null;
  if (input.remaining === null && input.refill === undefined && keepsRefill) throw unlimitedWithRefill();
  if (input.refill !== undefined) {
    changes.refillAmount = input.refill?.amount ?? null;
    changes.refillInterval = input.refill?.interval ?? null;
    changes.refilledAt = now;
    // Adding a refill to a key without a balance (or with remaining: null) starts it full, as on creation.
    const remainingAfter = input.remaining !== undefined ? input.remaining : current.remaining;
    if (input.refill !== null && remainingAfter === null) {
      changes.remaining = input.refill.amount;
    }
  }
  if (input.remaining !== undefined && !(input.remaining === null && keepsRefill)) {
    changes.remaining = input.remaining;
    changes.refilledAt = now;
  }
  // The refill period restarts now: carry over the balance as it stands, refill included.
  const carryOverCredits = changes.remaining === undefined && changes.refilledAt !== undefined;
  const fields = Object.keys(input).filter((field) => input[field as keyof KeyFields] !== undefined);
  // Only a change of expiry or credits was checked against the key's state (a rename was not).
  const readsState = changes.expiresAt !== undefined || changes.refilledAt !== undefined;
  const updated = await deps.repos.keys.update(
    id,
    ctx.caller,
    changes,
    (before) => [
      auditEvent(ctx.origin, now, {
        workspaceId: before.workspaceId,
        action: "key.update",
        resourceType: "key",
        resourceId: id,
        ownerId: changes.ownerId !== undefined ? changes.ownerId : before.ownerId,
        previousOwnerId:
          changes.ownerId !== undefined && changes.ownerId !== before.ownerId ? before.ownerId : null,
        details: { fields },
      }),
    ],
    {
      carryOverCreditsAt: carryOverCredits ? now : undefined,
      // The checks above read the key before this write: another request committed in between (a
      // rotation that ended it, a PATCH that added a refill) would make them wrong.
      check: (before) => {
        if (readsState && !sameCheckedState(current, before)) throw changedMeanwhile();
      },
    },
  );
  if (!updated) throw notFound("Key"); // gone, or no longer this caller's
  await invalidateKey(deps, id);
  // The time now, not the request's: a window that ended while the change was written stays ended,
  // as it would had a sweep dropped it meanwhile.
  if (updated.ratelimitDurationMs !== null)
    deps.rateLimiter.ruleChanged(id, updated.ratelimitDurationMs, deps.clock.now());
  return deps.usage.withKeyLastUse(updated);
}

export async function revokeKey(deps: AppDeps, ctx: ServiceContext, id: string, given: string | null) {
  // Free text, often written in a hurry ("leaked: <the key>"): a key, a hash or this deployment's admin
  // or metrics token in it is not stored, so it is never shown again in the key, its audit event or any
  // answer; a lone surrogate (half an emoji, cut by a client) becomes U+FFFD, as SQLite would store it
  // anyway. Either way the revocation goes through.
  const reason = given === null ? null : secretScrubber(deps.config)(given.toWellFormed());
  const current = await findVisibleKey(deps, ctx.caller, id);
  if (current.revokedAt !== null) return current;
  const now = deps.clock.now();
  const revoked = await deps.repos.keys.revoke(id, ctx.caller, now, reason, (row) => [
    auditEvent(ctx.origin, now, {
      workspaceId: row.workspaceId,
      action: "key.revoke",
      resourceType: "key",
      resourceId: id,
      ownerId: row.ownerId,
      details: reason === null ? {} : { reason },
    }),
  ]);
  await invalidateKey(deps, id);
  // Revoked by a concurrent call meanwhile: answer with the first revocation (or 404, if a concurrent
  // PATCH gave the key to an owner this caller does not see).
  return revoked ? deps.usage.withKeyLastUse(revoked) : findVisibleKey(deps, ctx.caller, id);
}

export async function deleteKey(deps: AppDeps, ctx: ServiceContext, id: string): Promise<void> {
  await findVisibleKey(deps, ctx.caller, id);
  const now = deps.clock.now();
  const deleted = await deps.repos.keys.delete(id, ctx.caller, (row) => [
    auditEvent(ctx.origin, now, {
      workspaceId: row.workspaceId,
      action: "key.delete",
      resourceType: "key",
      resourceId: id,
      ownerId: row.ownerId,
      details: { start: row.start },
    }),
  ]);
  // Not deleted: gone, or moved to an owner this caller does not see, whose key keeps its rate window.
  if (!deleted) throw notFound("Key");
  // The keys spending its credits still name it (credits_key_id has no foreign key): found as before.
  const spenders = await invalidateKey(deps, id);
  // Its rate window goes with it, unless a key it replaced counts in it still, in its grace period:
  // dropping it would hand that key a fresh limit.
  if (spenders.length === 0) deps.rateLimiter.forget(id);
}

/** Drops a changed key, and every key spending its credits, from the verify cache; returns those keys. */
async function invalidateKey(deps: AppDeps, id: string): Promise<string[]> {
  deps.keyCache.invalidate(id);
  const spenders = await deps.repos.keys.idsSpendingCreditsOf(id);
  for (const spender of spenders) deps.keyCache.invalidate(spender);
  return spenders;
}
