import { and, desc, eq } from "drizzle-orm";
import type { Db } from "../db/client.js";
import type { GroupCommit } from "../db/group-commit.js";
import { type KeyspaceRow, keyspaces, type NewAuditEvent } from "../db/schema.js";
import { insertAuditEvents } from "./audit-events.js";

export function createKeyspaceRepo(db: Db, commits: GroupCommit) {
  return {
    async insert(row: Omit<KeyspaceRow, "seq">, audit: NewAuditEvent[]): Promise<void> {
      await commits.runNow(() => {
        db.insert(keyspaces).values(row).run();
        insertAuditEvents(db, audit);
      });
    },

    async findById(id: string): Promise<KeyspaceRow | undefined> {
      return db.select().from(keyspaces).where(eq(keyspaces.id, id)).get();
    },

    async findByPrefix(prefix: string): Promise<KeyspaceRow | undefined> {
      return db.select().from(keyspaces).where(eq(keyspaces.prefix, prefix)).get();
    },

    async listByWorkspace(workspaceId: string): Promise<KeyspaceRow[]> {
      return db
        .select()
        .from(keyspaces)
        .where(eq(keyspaces.workspaceId, workspaceId))
        .orderBy(desc(keyspaces.seq))
        .all();
    },

    async update(
      id: string,
      workspaceId: string,
      changes: Partial<Pick<KeyspaceRow, "name" | "defaults" | "updatedAt">>,
      audit: NewAuditEvent[],
    ): Promise<KeyspaceRow | undefined> {
      return commits.runNow(() => {
        const row = db
          .update(keyspaces)
          .set(changes)
          .where(and(eq(keyspaces.id, id), eq(keyspaces.workspaceId, workspaceId)))
          .returning()
          .get();
        if (row) insertAuditEvents(db, audit);
        return row;
      });
    },
  };
}

export type KeyspaceRepo = ReturnType<typeof createKeyspaceRepo>;
