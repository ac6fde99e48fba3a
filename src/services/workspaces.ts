import type { WorkspaceRow } from "../db/schema.js";
import type { AppDeps } from "../deps.js";
import { newId } from "../lib/ids.js";
import { auditEvent, type Origin } from "./audit.js";
import { newRootKey, rootKeyCreatedEvent } from "./root-keys.js";

/** A workspace and its first root key, holding every permission ("*"), created together. */
export async function createWorkspace(deps: AppDeps, origin: Origin, name: string) {
  const now = deps.clock.now();
  const workspace: WorkspaceRow = { seq: 0, id: newId("ws"), name, createdAt: now };
  const rootKey = newRootKey(workspace.id, `${name} root key`, ["*"], null, now);
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

/** On first start with an empty database: workspace "default" and a root key shown once. */
export async function bootstrapIfEmpty(deps: AppDeps) {
  if ((await deps.repos.workspaces.count()) > 0) return null;
  return createWorkspace(
    deps,
    { actorType: "system", actorId: null, requestId: "bootstrap", ip: null },
    "default",
  );
}
