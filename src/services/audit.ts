import type { Caller } from "../auth/caller.js";
import type { NewAuditEvent } from "../db/schema.js";
import type { AppDeps } from "../deps.js";
import { newId } from "../lib/ids.js";

export const AUDIT_ACTIONS = [
  "workspace.create",
  "keyspace.create",
  "keyspace.update",
  "key.create",
  "key.update",
  "key.rotate",
  "key.revoke",
  "key.delete",
  "root_key.create",
  "root_key.revoke",
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Who caused a change and through which request: copied into every audit event. */
export interface Origin {
  actorType: "root_key" | "admin" | "system";
  actorId: string | null;
  requestId: string;
  ip: string | null;
}

export interface AuditSubject {
  workspaceId: string;
  action: AuditAction;
  resourceType: "workspace" | "keyspace" | "key" | "root_key";
  resourceId: string;
  /** The owner the resource belongs to, so owner-bound root keys can read their own events. */
  ownerId?: string | null;
  /** The owner a key.update took the key from: that owner's view shows the event too. */
  previousOwnerId?: string | null;
  details?: Record<string, unknown>;
}

export function auditEvent(origin: Origin, time: number, subject: AuditSubject): NewAuditEvent {
  return {
    id: newId("evt"),
    time,
    workspaceId: subject.workspaceId,
    actorType: origin.actorType,
    actorId: origin.actorId,
    action: subject.action,
    resourceType: subject.resourceType,
    resourceId: subject.resourceId,
    ownerId: subject.ownerId ?? null,
    previousOwnerId: subject.previousOwnerId ?? null,
    requestId: origin.requestId,
    ip: origin.ip,
    details: subject.details ?? {},
  };
}

export interface ListAuditEventsInput {
  resourceId?: string;
  action?: AuditAction;
  limit: number;
  cursor?: string;
}

export async function listAuditEvents(deps: AppDeps, caller: Caller, input: ListAuditEventsInput) {
  const rows = await deps.repos.auditEvents.list({
    workspaceId: caller.workspaceId,
    // An owner-bound root key reads only the events about its owner's keys (contract §2): not those about
    // root keys bound to the same owner, and by the owner the key had when the event was recorded (a move
    // to another owner shows to both: the owner it left still sees what took its key away).
    ownerId: caller.ownerId ?? undefined,
    resourceId: input.resourceId,
    action: input.action,
    beforeSeq: deps.cursors.before("audit", input.cursor),
    limit: input.limit + 1,
  });
  return deps.cursors.page("audit", rows, input.limit);
}
