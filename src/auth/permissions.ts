export const PERMISSIONS = [
  "keyspaces:read",
  "keyspaces:write",
  "keys:read",
  "keys:write",
  "keys:verify",
  "audit:read",
  "root_keys:write",
] as const;

export type Permission = (typeof PERMISSIONS)[number];
export type PermissionGrant = Permission | "*";

export function grants(held: ReadonlySet<string>, needed: Permission): boolean {
  return held.has("*") || held.has(needed);
}

/** No escalation: every permission asked for must already be held ("*" only by a "*" holder). */
export function isSubsetOf(asked: readonly string[], held: ReadonlySet<string>): boolean {
  if (held.has("*")) return true;
  return asked.every((permission) => permission !== "*" && held.has(permission));
}
