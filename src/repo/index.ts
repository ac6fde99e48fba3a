import { sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
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
  return {
    workspaces: createWorkspaceRepo(db),
    keyspaces: createKeyspaceRepo(db),
    keys: createKeyRepo(db),
    rootKeys: createRootKeyRepo(db),
    auditEvents: createAuditEventRepo(db),
    settings: createSettingsRepo(db),
    /** True when the database answers and every migration this build ships is applied. */
    async ready(): Promise<boolean> {
      try {
        db.get(sql`SELECT 1 FROM keys LIMIT 1`);
        const applied = db.get<{ count: number }>(sql`SELECT count(*) AS count FROM __drizzle_migrations`);
        return (applied?.count ?? 0) >= migrationsShipped;
      } catch {
        return false;
      }
    },
  };
}

export type Repos = ReturnType<typeof createRepos>;
