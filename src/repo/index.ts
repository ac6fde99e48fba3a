import { sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { GroupCommit } from "../db/group-commit.js";
import { shippedMigrationCount } from "../db/migrate.js";
import { createAuditEventRepo } from "./audit-events.js";
import { createKeyRepo } from "./keys.js";
import { createKeyspaceRepo } from "./keyspaces.js";
import { createRootKeyRepo } from "./root-keys.js";
import { createSettingsRepo } from "./settings.js";
import { createWorkspaceRepo } from "./workspaces.js";

/** Every query KeyMint makes, behind async functions, so another database can stand in. */
export function createRepos(db: Db) {
  const migrationsShipped = shippedMigrationCount();
  // One queue for every write that adds a listed row or an audit event: they commit in the order they
  // were handed over (runNow commits the waiting ones first), so the sequence lists sort by follows the
  // clock readings they were made with.
  const commits = new GroupCommit(db.$client);
  return {
    workspaces: createWorkspaceRepo(db, commits),
    keyspaces: createKeyspaceRepo(db, commits),
    keys: createKeyRepo(db, commits),
    rootKeys: createRootKeyRepo(db, commits),
    auditEvents: createAuditEventRepo(db),
    settings: createSettingsRepo(db),
    /**
     * True when the database answers, every migration this build ships is applied, and it takes writes:
     * after a write failed for the storage's sake (a full disk, an I/O error), a probe write (a 1 MiB
     * row written and deleted in one transaction) must succeed first; until then it stays false.
     */
    async ready(): Promise<boolean> {
      try {
        db.get(sql`SELECT 1 FROM keys LIMIT 1`);
        const applied = db.get<{ count: number }>(sql`SELECT count(*) AS count FROM __drizzle_migrations`);
        if ((applied?.count ?? 0) < migrationsShipped) return false;
        if (commits.writesFailing) {
          commits.runNow(() => {
            // 1 MiB: more than any API write and than a usage flush of rows on scattered pages, so that
            // a disk with room for small writes only stays not ready (a probe that fits in a page with
            // room to spare, or in WAL space already allocated, would pass where real writes fail).
            db.run(
              sql`INSERT OR REPLACE INTO settings (name, value) VALUES ('readiness_probe', zeroblob(1048576))`,
            );
            db.run(sql`DELETE FROM settings WHERE name = 'readiness_probe'`);
          });
          commits.storageRecovered();
        }
        return true;
      } catch {
        return false;
      }
    },
  };
}

export type Repos = ReturnType<typeof createRepos>;
