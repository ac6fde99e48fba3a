import type { KeyRow } from "../db/schema.js";
import type { AppDeps } from "../deps.js";
import { generateKey } from "../keys/format.js";
import { hashKey } from "../keys/hash.js";
import { ApiError, notFound } from "../lib/errors.js";
import { RotationConflict } from "../repo/keys.js";
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
  const old = await findVisibleKey(deps, ctx.caller, id);
  const keyspace = await deps.repos.keyspaces.findById(old.keyspaceId);
  if (!keyspace) throw notFound("Keyspace");
  const spenders = await deps.repos.keys.idsSpendingCreditsOf(old.id);
  const generated = generateKey(keyspace.prefix);
  // Hashed before the clock is read, as in createKey: createdAt follows the order keys are stored in,
  // so nothing is awaited between reading the clock and handing the rotation over to be written.
  const hash = await hashKey(generated.key, keyspace.hashAlgorithm);
  const now = deps.clock.now();
  const expired = old.expiresAt !== null && now >= old.expiresAt;
  if (old.revokedAt !== null || old.replacedById !== null || expired) throw notRotatable();

  const { seq: _seq, remaining: _remaining, refilledAt: _refilledAt, ...settings } = old;
  // Its credits are the old key's balance, read inside the rotation's transaction.
  const successor: Omit<KeyRow, "seq" | "remaining" | "refilledAt"> = {
    ...settings,
    id: `key_${generated.keyId}`,
    start: generated.start,
    last4: generated.last4,
    hash,
    createdAt: now,
    updatedAt: now,
    lastUsedAt: null,
    rotatedFromId: old.id,
    replacedById: null,
    creditsKeyId: null,
  };
  const graceEndsAt = now + gracePeriodSeconds * 1000;
  const oldExpiresAt = old.expiresAt === null ? graceEndsAt : Math.min(old.expiresAt, graceEndsAt);
  let created: Omit<KeyRow, "seq">;
  try {
    created = await deps.repos.keys.rotate(old.id, successor, oldExpiresAt, now, [
      auditEvent(ctx.origin, now, {
        workspaceId: old.workspaceId,
        action: "key.rotate",
        resourceType: "key",
        resourceId: old.id,
        ownerId: old.ownerId,
        details: { newKeyId: successor.id, gracePeriodSeconds },
      }),
    ]);
  } catch (error) {
    if (error instanceof RotationConflict) throw notRotatable();
    throw error;
  } finally {
    deps.keyCache.invalidate(old.id);
    for (const spender of spenders) deps.keyCache.invalidate(spender);
  }
  return { key: generated.key, row: { ...created, seq: 0 } };
}
