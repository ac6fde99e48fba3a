import { canSee } from "../auth/caller.js";
import type { KeyRow } from "../db/schema.js";
import type { AppDeps } from "../deps.js";
import { generateKey } from "../keys/format.js";
import { hashKey } from "../keys/hash.js";
import { ApiError, notFound } from "../lib/errors.js";
import type { RotationPlan } from "../repo/keys.js";
import { auditEvent } from "./audit.js";
import { findVisibleKey } from "./keys.js";
import type { ServiceContext } from "./request-context.js";

const notRotatable = () =>
  new ApiError("CONFLICT", "Only an active key that has not been replaced can be rotated.");

/**
 * Issues a successor that copies the key's settings and takes over its credits; the old key stops
 * verifying after the grace period (never later than it would have anyway).
 */
export async function rotateKey(deps: AppDeps, ctx: ServiceContext, id: string, gracePeriodSeconds: number) {
  const found = await findVisibleKey(deps, ctx.caller, id);
  const keyspace = await deps.repos.keyspaces.findById(found.keyspaceId);
  if (!keyspace) throw notFound("Keyspace");
  // Checked here too, so a key that cannot be rotated costs no argon2id hash; checked again on the row
  // the rotation writes over.
  checkRotatable(found, deps.clock.now());
  const generated = generateKey(keyspace.prefix);
  // Hashed before the clock is read, as in createKey: createdAt follows the order keys are stored in,
  // so nothing is awaited between reading the clock and handing the rotation over to be written.
  const hash = await hashKey(generated.key, keyspace.hashAlgorithm, deps.argon2, {
    tenant: keyspace.workspaceId,
    clientGone: ctx.clientGone,
  });
  const now = deps.clock.now();

  // The successor copies the key as it stands when the rotation is written, not as it was read before
  // the hash: a PATCH, revoke or delete that landed during an argon2id hash is not undone or missed.
  const plan = (old: KeyRow): RotationPlan => {
    if (!canSee(ctx.caller, old)) throw notFound("Key");
    checkRotatable(old, now);
    const { seq: _seq, remaining: _remaining, refilledAt: _refilledAt, ...settings } = old;
    const successorId = `key_${generated.keyId}`;
    const graceEndsAt = now + gracePeriodSeconds * 1000;
    return {
      // Its credits are the old key's balance, which the repo reads in the same transaction.
      successor: {
        ...settings,
        id: successorId,
        start: generated.start,
        last4: generated.last4,
        hash,
        createdAt: now,
        updatedAt: now,
        lastUsedAt: null,
        rotatedFromId: old.id,
        replacedById: null,
        creditsKeyId: null,
      },
      oldExpiresAt: old.expiresAt === null ? graceEndsAt : Math.min(old.expiresAt, graceEndsAt),
      audit: [
        auditEvent(ctx.origin, now, {
          workspaceId: old.workspaceId,
          action: "key.rotate",
          resourceType: "key",
          resourceId: old.id,
          ownerId: old.ownerId,
          details: { newKeyId: successorId, gracePeriodSeconds },
        }),
      ],
    };
  };
  const rotated = await deps.repos.keys.rotate(found.id, now, plan);
  if (!rotated) throw notFound("Key");
  const { successor, spenders } = rotated;
  // The old key and every key that spent its credits now read a changed row; the successor takes
  // over the rate window they counted in, as it did their credits.
  deps.keyCache.invalidate(found.id);
  for (const spender of spenders) deps.keyCache.invalidate(spender);
  deps.rateLimiter.handOver(found.id, successor.id);
  return { key: generated.key, row: { ...successor, seq: 0 } };
}

function checkRotatable(key: KeyRow, now: number): void {
  const expired = key.expiresAt !== null && now >= key.expiresAt;
  if (key.revokedAt !== null || key.replacedById !== null || expired) throw notRotatable();
}
