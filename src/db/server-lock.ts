import { closeSync, openSync, realpathSync } from "node:fs";
import Database from "better-sqlite3";

export interface ServerLock {
  release(): void;
}

/** The file whose lock says a server is serving `databaseFile`: beside it, as SQLite's -wal and -shm are. */
export const serverLockFile = (databaseFile: string) => `${databaseFile}-server.lock`;

/**
 * Holds the server lock of `databaseFile` (which exists) for as long as this process serves it, or throws
 * when another process holds it. Each server caches keys in memory and drops a key from its own cache
 * when it changes it, so a key revoked through one server would still verify on a second one serving the
 * same file until that one's cache entry expired: the very-next-call revocation holds only for one server
 * per file. The CLI does not take the lock: it only adds workspaces and root keys, which no server has
 * cached.
 *
 * The lock is SQLite's own file lock (an exclusive transaction on a small lock database, never written),
 * so the OS releases it when the process ends, however it ends: a SIGKILL leaves nothing to clean up.
 */
export function holdServerLock(databaseFile: string): ServerLock {
  // By the file's real path, as SQLite names its -wal: a server reaching it through a symlink is the same.
  const file = serverLockFile(realpathSync(databaseFile));
  closeSync(openSync(file, "a", 0o600)); // owner-only, as the database (client.ts)
  const lock = new Database(file, { timeout: 0 });
  try {
    lock.pragma("journal_mode = MEMORY"); // nothing is ever written: no -journal file beside it
    lock.pragma("locking_mode = EXCLUSIVE");
    lock.exec("BEGIN EXCLUSIVE");
  } catch (error) {
    lock.close();
    if ((error as { code?: string }).code === "SQLITE_BUSY") {
      throw new Error(
        "another KeyMint server is serving this database. Each server caches keys, so a key revoked " +
          "through one would still verify on the other: run one server per database file",
      );
    }
    throw error;
  }
  return { release: () => lock.close() };
}
