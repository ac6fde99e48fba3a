import type { AuditEventRow, KeyRow, KeyspaceRow, RootKeyRow, WorkspaceRow } from "../db/schema.js";
import { effectiveRemaining } from "../keys/credits.js";
import { toIso } from "./time.js";

/* The one place rows become API objects: times as ISO strings, nulls kept, hashes never included. */

export function toWorkspaceJson(row: WorkspaceRow) {
  return { id: row.id, name: row.name, createdAt: toIso(row.createdAt) };
}

export function toKeyspaceJson(row: KeyspaceRow) {
  return {
    id: row.id,
    workspaceId: row.workspaceId,
    name: row.name,
    prefix: row.prefix,
    hashAlgorithm: row.hashAlgorithm,
    defaults: row.defaults,
    createdAt: toIso(row.createdAt),
    updatedAt: toIso(row.updatedAt),
  };
}

export function toKeyJson(row: KeyRow, now: number) {
  return {
    id: row.id,
    keyspaceId: row.keyspaceId,
    workspaceId: row.workspaceId,
    ownerId: row.ownerId,
    name: row.name,
    start: row.start,
    last4: row.last4,
    meta: row.meta,
    scopes: row.scopes,
    enabled: row.enabled,
    createdAt: toIso(row.createdAt),
    updatedAt: toIso(row.updatedAt),
    expiresAt: toIso(row.expiresAt),
    revokedAt: toIso(row.revokedAt),
    revokedReason: row.revokedReason,
    lastUsedAt: toIso(row.lastUsedAt),
    remaining: effectiveRemaining(row, now),
    refill:
      row.refillAmount !== null && row.refillInterval !== null
        ? { amount: row.refillAmount, interval: row.refillInterval }
        : null,
    ratelimit:
      row.ratelimitLimit !== null && row.ratelimitDurationMs !== null
        ? { limit: row.ratelimitLimit, durationMs: row.ratelimitDurationMs }
        : null,
    rotatedFromId: row.rotatedFromId,
    replacedById: row.replacedById,
  };
}

export function toRootKeyJson(row: RootKeyRow) {
  return {
    id: row.id,
    workspaceId: row.workspaceId,
    name: row.name,
    start: row.start,
    last4: row.last4,
    permissions: row.permissions,
    ownerId: row.ownerId,
    createdAt: toIso(row.createdAt),
    revokedAt: toIso(row.revokedAt),
    lastUsedAt: toIso(row.lastUsedAt),
  };
}

export function toAuditEventJson(row: AuditEventRow) {
  return {
    id: row.id,
    time: toIso(row.time),
    workspaceId: row.workspaceId,
    actor: { type: row.actorType, id: row.actorId },
    action: row.action,
    resourceType: row.resourceType,
    resourceId: row.resourceId,
    requestId: row.requestId,
    ip: row.ip,
    details: row.details,
  };
}

export type KeyJson = ReturnType<typeof toKeyJson>;
export type KeyspaceJson = ReturnType<typeof toKeyspaceJson>;
export type RootKeyJson = ReturnType<typeof toRootKeyJson>;
export type AuditEventJson = ReturnType<typeof toAuditEventJson>;
