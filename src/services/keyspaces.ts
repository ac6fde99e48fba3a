import type { Caller } from "../auth/caller.js";
import type { KeyDefaults, KeyspaceRow } from "../db/schema.js";
import type { AppDeps } from "../deps.js";
import type { HashAlgorithm } from "../keys/hash.js";
import { asksNoChange } from "../lib/changes.js";
import { ApiError, notFound } from "../lib/errors.js";
import { newId } from "../lib/ids.js";
import { auditEvent } from "./audit.js";
import type { ServiceContext } from "./request-context.js";

export interface CreateKeyspaceInput {
  name: string;
  prefix: string;
  hashAlgorithm: HashAlgorithm;
  defaults?: KeyDefaults;
}

const prefixTaken = () => new ApiError("CONFLICT", "A keyspace with this prefix already exists.");

export async function createKeyspace(deps: AppDeps, ctx: ServiceContext, input: CreateKeyspaceInput) {
  if (await deps.repos.keyspaces.findByPrefix(input.prefix)) throw prefixTaken();
  const now = deps.clock.now();
  const row: Omit<KeyspaceRow, "seq"> = {
    id: newId("ksp"),
    workspaceId: ctx.caller.workspaceId,
    name: input.name,
    prefix: input.prefix,
    hashAlgorithm: input.hashAlgorithm,
    defaults: input.defaults ?? {},
    createdAt: now,
    updatedAt: now,
  };
  try {
    await deps.repos.keyspaces.insert(row, [
      auditEvent(ctx.origin, now, {
        workspaceId: row.workspaceId,
        action: "keyspace.create",
        resourceType: "keyspace",
        resourceId: row.id,
        details: { name: row.name, prefix: row.prefix, hashAlgorithm: row.hashAlgorithm },
      }),
    ]);
  } catch (error) {
    // Two creates raced for one prefix: the unique index decided.
    if (error instanceof Error && "code" in error && error.code === "SQLITE_CONSTRAINT_UNIQUE")
      throw prefixTaken();
    throw error;
  }
  return { ...row, seq: 0 };
}

export async function getKeyspace(deps: AppDeps, caller: Caller, id: string): Promise<KeyspaceRow> {
  const row = await deps.repos.keyspaces.findById(id);
  if (!row || row.workspaceId !== caller.workspaceId) throw notFound("Keyspace");
  return row;
}

export async function listKeyspaces(deps: AppDeps, caller: Caller): Promise<KeyspaceRow[]> {
  return deps.repos.keyspaces.listByWorkspace(caller.workspaceId);
}

export async function updateKeyspace(
  deps: AppDeps,
  ctx: ServiceContext,
  id: string,
  input: { name?: string; defaults?: KeyDefaults },
): Promise<KeyspaceRow> {
  const current = await getKeyspace(deps, ctx.caller, id);
  if (asksNoChange(input)) return current;
  const now = deps.clock.now();
  const row = await deps.repos.keyspaces.update(id, ctx.caller.workspaceId, { ...input, updatedAt: now }, [
    auditEvent(ctx.origin, now, {
      workspaceId: ctx.caller.workspaceId,
      action: "keyspace.update",
      resourceType: "keyspace",
      resourceId: id,
      details: { fields: Object.keys(input) },
    }),
  ]);
  if (!row) throw notFound("Keyspace");
  return row;
}
