import { eq } from "drizzle-orm";
import type { Db } from "../db/client.js";
import type { GroupCommit } from "../db/group-commit.js";
import {
  type NewAuditEvent,
  type RootKeyRow,
  rootKeys,
  type WorkspaceRow,
  workspaces,
} from "../db/schema.js";
import { insertAuditEvents } from "./audit-events.js";

export function createWorkspaceRepo(db: Db, commits: GroupCommit) {
  return {
    /** Creates a workspace with its first root key and their audit events in one transaction. */
    async insertWithRootKey(
      workspace: Omit<WorkspaceRow, "seq">,
      rootKey: Omit<RootKeyRow, "seq">,
      audit: NewAuditEvent[],
    ): Promise<void> {
      await commits.runNow(() => {
        db.insert(workspaces).values(workspace).run();
        db.insert(rootKeys).values(rootKey).run();
        insertAuditEvents(db, audit);
      });
    },

    async findById(id: string): Promise<WorkspaceRow | undefined> {
      return db.select().from(workspaces).where(eq(workspaces.id, id)).get();
    },

    async count(): Promise<number> {
      return db.$count(workspaces);
    },
  };
}

export type WorkspaceRepo = ReturnType<typeof createWorkspaceRepo>;
