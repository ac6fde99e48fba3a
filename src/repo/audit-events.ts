import { and, desc, eq, lt, type SQL } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { type AuditEventRow, auditEvents, type NewAuditEvent } from "../db/schema.js";

export interface AuditFilter {
  workspaceId: string;
  /** Only the events about keys of this owner (contract §2: an owner-bound root key's view). */
  ownerId?: string;
  resourceId?: string;
  action?: string;
  beforeSeq?: number;
  limit: number;
}

type Tx = Pick<Db, "insert">;

/** Writes audit events inside the caller's transaction, so an event exists exactly when its change does. */
export function insertAuditEvents(tx: Tx, events: NewAuditEvent[]): void {
  if (events.length > 0) tx.insert(auditEvents).values(events).run();
}

export function createAuditEventRepo(db: Db) {
  return {
    async list(filter: AuditFilter): Promise<AuditEventRow[]> {
      const conditions: SQL[] = [eq(auditEvents.workspaceId, filter.workspaceId)];
      if (filter.ownerId !== undefined) {
        conditions.push(eq(auditEvents.resourceType, "key"), eq(auditEvents.ownerId, filter.ownerId));
      }
      if (filter.resourceId !== undefined) conditions.push(eq(auditEvents.resourceId, filter.resourceId));
      if (filter.action !== undefined) conditions.push(eq(auditEvents.action, filter.action));
      if (filter.beforeSeq !== undefined) conditions.push(lt(auditEvents.seq, filter.beforeSeq));
      return db
        .select()
        .from(auditEvents)
        .where(and(...conditions))
        .orderBy(desc(auditEvents.seq))
        .limit(filter.limit)
        .all();
    },
  };
}

export type AuditEventRepo = ReturnType<typeof createAuditEventRepo>;
