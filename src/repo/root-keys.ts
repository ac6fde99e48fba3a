import { and, desc, eq, isNull, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import type { GroupCommit } from "../db/group-commit.js";
import { type NewAuditEvent, type RootKeyRow, rootKeys } from "../db/schema.js";
import { insertAuditEvents } from "./audit-events.js";

export function createRootKeyRepo(db: Db, commits: GroupCommit) {
  const byId = db
    .select()
    .from(rootKeys)
    .where(eq(rootKeys.id, sql.placeholder("id")))
    .prepare();

  return {
    async insert(row: Omit<RootKeyRow, "seq">, audit: NewAuditEvent[]): Promise<void> {
      await commits.runNow(() => {
        db.insert(rootKeys).values(row).run();
        insertAuditEvents(db, audit);
      });
    },

    async findById(id: string): Promise<RootKeyRow | undefined> {
      return byId.get({ id });
    },

    async list(workspaceId: string, ownerId?: string): Promise<RootKeyRow[]> {
      const conditions: SQL[] = [eq(rootKeys.workspaceId, workspaceId)];
      if (ownerId !== undefined) conditions.push(eq(rootKeys.ownerId, ownerId));
      return db
        .select()
        .from(rootKeys)
        .where(and(...conditions))
        .orderBy(desc(rootKeys.seq))
        .all();
    },

    /** Revokes once: returns null when it was already revoked. */
    async revoke(id: string, at: number, audit: NewAuditEvent[]): Promise<RootKeyRow | null> {
      return commits.runNow(() => {
        const row = db
          .update(rootKeys)
          .set({ revokedAt: at })
          .where(and(eq(rootKeys.id, id), isNull(rootKeys.revokedAt)))
          .returning()
          .get();
        if (!row) return null;
        insertAuditEvents(db, audit);
        return row;
      });
    },

    async recordLastUsed(lastUsed: Map<string, number>): Promise<void> {
      db.transaction((tx) => {
        for (const [id, at] of lastUsed) {
          tx.update(rootKeys)
            .set({ lastUsedAt: sql`max(coalesce(${rootKeys.lastUsedAt}, 0), ${at})` })
            .where(eq(rootKeys.id, id))
            .run();
        }
      });
    },
  };
}

export type RootKeyRepo = ReturnType<typeof createRootKeyRepo>;
