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
