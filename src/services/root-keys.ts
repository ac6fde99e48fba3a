import { type Caller, canSee } from "../auth/caller.js";
import { isSubsetOf, type PermissionGrant } from "../auth/permissions.js";
import type { RootKeyRow } from "../db/schema.js";
import type { AppDeps } from "../deps.js";
import { generateKey, ROOT_KEY_PREFIX } from "../keys/format.js";
import { sha256Hex } from "../keys/hash.js";
import { ApiError, notFound } from "../lib/errors.js";
import { auditEvent, type Origin } from "./audit.js";
import type { ServiceContext } from "./request-context.js";

export interface CreateRootKeyInput {
  name: string;
  permissions: PermissionGrant[];
  ownerId?: string | null;
}

/** A new root key and its row. Root keys are random 190-bit secrets: SHA-256 is the right hash. */
export function newRootKey(
  workspaceId: string,
  name: string,
  permissions: PermissionGrant[],
  ownerId: string | null,
  now: number,
): { key: string; row: Omit<RootKeyRow, "seq"> } {
  const generated = generateKey(ROOT_KEY_PREFIX);
  return {
    key: generated.key,
    row: {
      id: `rk_${generated.keyId}`,
      workspaceId,
      name,
      start: generated.start,
      last4: generated.last4,
      hash: sha256Hex(generated.key),
      permissions: [...new Set(permissions)],
      ownerId,
      createdAt: now,
      revokedAt: null,
      lastUsedAt: null,
    },
  };
}

export function rootKeyCreatedEvent(origin: Origin, row: Omit<RootKeyRow, "seq">) {
  return auditEvent(origin, row.createdAt, {
    workspaceId: row.workspaceId,
    action: "root_key.create",
    resourceType: "root_key",
    resourceId: row.id,
    ownerId: row.ownerId,
    details: { name: row.name, permissions: row.permissions, ownerId: row.ownerId },
  });
}

/** Creates a root key for `workspaceId` without a calling root key (CLI, bootstrap). */
export async function createRootKeyAsSystem(
  deps: AppDeps,
  origin: Origin,
  workspaceId: string,
  input: CreateRootKeyInput,
) {
  if (!(await deps.repos.workspaces.findById(workspaceId))) throw notFound("Workspace");
  return insertRootKey(deps, origin, workspaceId, input);
}

export async function createRootKey(deps: AppDeps, ctx: ServiceContext, input: CreateRootKeyInput) {
  const { caller } = ctx;
  if (!isSubsetOf(input.permissions, caller.permissions)) {
    throw new ApiError("FORBIDDEN", "A root key can only grant permissions it holds itself.");
  }
  if (caller.ownerId !== null && input.ownerId !== undefined && input.ownerId !== caller.ownerId) {
    throw new ApiError(
      "FORBIDDEN",
      "An owner-bound root key can only create root keys bound to its own ownerId.",
    );
  }
  return insertRootKey(deps, ctx.origin, caller.workspaceId, {
    ...input,
    ownerId: input.ownerId ?? caller.ownerId ?? undefined,
  });
}

async function insertRootKey(deps: AppDeps, origin: Origin, workspaceId: string, input: CreateRootKeyInput) {
  const ownerId = input.ownerId ?? null;
  if (ownerId !== null && input.permissions.some((p) => p === "*" || p === "keyspaces:write")) {
    throw new ApiError("VALIDATION_FAILED", "The request is not valid.", [
      { path: "permissions", message: "an owner-bound root key cannot hold keyspaces:write (nor *)" },
    ]);
  }
  const created = newRootKey(workspaceId, input.name, input.permissions, ownerId, deps.clock.now());
  await deps.repos.rootKeys.insert(created.row, [rootKeyCreatedEvent(origin, created.row)]);
  return { key: created.key, row: { ...created.row, seq: 0 } };
}

// Both answer root keys with their latest use, written yet or not (the caller's own included).

export async function listRootKeys(deps: AppDeps, caller: Caller): Promise<RootKeyRow[]> {
  const rows = await deps.repos.rootKeys.list(caller.workspaceId, caller.ownerId ?? undefined);
  return rows.map((row) => deps.usage.withRootKeyLastUse(row));
}

export async function revokeRootKey(deps: AppDeps, ctx: ServiceContext, id: string): Promise<RootKeyRow> {
  const current = await deps.repos.rootKeys.findById(id);
  if (!current || !canSee(ctx.caller, current)) throw notFound("Root key");
  if (current.revokedAt !== null) return deps.usage.withRootKeyLastUse(current);
  const now = deps.clock.now();
  const revoked = await deps.repos.rootKeys.revoke(id, now, [
    auditEvent(ctx.origin, now, {
      workspaceId: current.workspaceId,
      action: "root_key.revoke",
      resourceType: "root_key",
      resourceId: id,
      ownerId: current.ownerId,
    }),
  ]);
  deps.rootKeyCache.invalidate(id);
  return deps.usage.withRootKeyLastUse(revoked ?? (await deps.repos.rootKeys.findById(id)) ?? current);
}
