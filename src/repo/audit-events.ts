import { and, desc, eq, lt, type SQL } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { type AuditEventRow, auditEvents, type NewAuditEvent } from "../db/schema.js";
import type { AuditAction } from "../services/audit.js";

export interface AuditFilter {
  workspaceId: string;
  /** Only the events about keys of this owner, moves away included (contract §2: an owner-bound root key's view). */
  ownerId?: string;
  resourceId?: string;
  action?: AuditAction;
  beforeSeq?: number;
  limit: number;
}

type Tx = Pick<Db, "insert">;

/** Writes audit events inside the caller's transaction, so an event exists exactly when its change does. */
export function insertAuditEvents(tx: Tx, events: NewAuditEvent[]): void {
  if (events.length > 0) tx.insert(auditEvents).values(events).run();
}

export function createAuditEventRepo(db: Db) {
  function select(conditions: SQL[], limit: number): AuditEventRow[] {
    return db
      .select()
      .from(auditEvents)
      .where(and(...conditions))
      .orderBy(desc(auditEvents.seq))
      .limit(limit)
      .all();
  }

  return {
    async list(filter: AuditFilter): Promise<AuditEventRow[]> {
      const conditions: SQL[] = [eq(auditEvents.workspaceId, filter.workspaceId)];
      if (filter.resourceId !== undefined) conditions.push(eq(auditEvents.resourceId, filter.resourceId));
      if (filter.action !== undefined) conditions.push(eq(auditEvents.action, filter.action));
      if (filter.beforeSeq !== undefined) conditions.push(lt(auditEvents.seq, filter.beforeSeq));
      if (filter.ownerId === undefined) return select(conditions, filter.limit);
      // An owner's view: its keys' events, and each change that moved one of its keys to another owner.
      // Two queries, each on its own index, merged newest first: one query with an OR of the two owner
      // columns would walk every event of the workspace instead.
      conditions.push(eq(auditEvents.resourceType, "key"));
      const owned = select([...conditions, eq(auditEvents.ownerId, filter.ownerId)], filter.limit);
      const movedAway = select(
        [...conditions, eq(auditEvents.previousOwnerId, filter.ownerId)],
        filter.limit,
      );
      if (movedAway.length === 0) return owned;
      return [...owned, ...movedAway].sort((a, b) => b.seq - a.seq).slice(0, filter.limit);
    },
  };
}

export type AuditEventRepo = ReturnType<typeof createAuditEventRepo>;
