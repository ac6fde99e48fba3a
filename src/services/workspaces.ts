import type { WorkspaceRow } from "../db/schema.js";
import type { AppDeps } from "../deps.js";
import { newId } from "../lib/ids.js";
import { auditEvent, type Origin } from "./audit.js";
import { newRootKey, rootKeyCreatedEvent } from "./root-keys.js";

const MAX_NAME_LENGTH = 128;
const ROOT_KEY_SUFFIX = " root key";

/** A workspace and its first root key, holding every permission ("*"), created together. */
export async function createWorkspace(deps: AppDeps, origin: Origin, name: string) {
  const now = deps.clock.now();
  const workspace: WorkspaceRow = { seq: 0, id: newId("ws"), name, createdAt: now };
  const rootKeyName = `${shortened(name, MAX_NAME_LENGTH - ROOT_KEY_SUFFIX.length)}${ROOT_KEY_SUFFIX}`;
  const rootKey = newRootKey(workspace.id, rootKeyName, ["*"], null, now);
  const { seq: _seq, ...workspaceRow } = workspace;
  await deps.repos.workspaces.insertWithRootKey(workspaceRow, rootKey.row, [
    auditEvent(origin, now, {
      workspaceId: workspace.id,
      action: "workspace.create",
      resourceType: "workspace",
      resourceId: workspace.id,
      details: { name },
    }),
    rootKeyCreatedEvent(origin, rootKey.row),
  ]);
  return { workspace, rootKey: { key: rootKey.key, row: { ...rootKey.row, seq: 0 } } };
}

/**
 * `name` cut to `length` UTF-16 units (as names are measured), so the root key's name keeps within the
 * 128 chars of a name, as the workspace's own does; never between the two halves of a character outside
 * the BMP (an emoji), which would leave a lone surrogate: stored as U+FFFD, so later reads would differ
 * from the answer that created it.
 */
function shortened(name: string, length: number): string {
  if (name.length <= length) return name;
  const lastUnit = name.charCodeAt(length - 1);
  const splitsPair = lastUnit >= 0xd800 && lastUnit <= 0xdbff;
  return name.slice(0, splitsPair ? length - 1 : length);
}

/** On first start with an empty database: workspace "default" and a root key shown once. */
export async function bootstrapIfEmpty(deps: AppDeps) {
  if ((await deps.repos.workspaces.count()) > 0) return null;
  return createWorkspace(
    deps,
    { actorType: "system", actorId: null, requestId: "bootstrap", ip: null },
    "default",
  );
}
