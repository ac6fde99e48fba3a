import { ApiError } from "../lib/errors.js";
import type { Permission } from "./permissions.js";
import { grants } from "./permissions.js";

/** Who is calling: a root key of one workspace, possibly bound to one ownerId. */
export interface Caller {
  id: string;
  workspaceId: string;
  ownerId: string | null;
  permissions: ReadonlySet<string>;
}

export function requirePermission(caller: Caller, permission: Permission): void {
  if (!grants(caller.permissions, permission)) {
    throw new ApiError("FORBIDDEN", `This root key lacks the "${permission}" permission.`);
  }
}

/** Whose resources a caller sees: its workspace's, and an owner-bound caller only its owner's. */
export type Scope = Pick<Caller, "workspaceId" | "ownerId">;

/** The one visibility rule, for keys and root keys alike (contract §2), in the API and in verify. */
export function canSee(caller: Scope, row: Scope): boolean {
  return (
    row.workspaceId === caller.workspaceId && (caller.ownerId === null || row.ownerId === caller.ownerId)
  );
}
