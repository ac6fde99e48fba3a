import { existsSync, statSync } from "node:fs";
import { type Db, openDatabase, openExistingDatabaseToRead } from "./client.js";
import { migrateDatabase } from "./migrate.js";
import { holdServerLock, type ServerLock } from "./server-lock.js";

/** Opens and migrates KEYMINT_DB; a failure names the setting, as a bad setting must (contract §7). */
export function openConfiguredDatabase(file: string): Db {
  return openAndMigrate(file, () => undefined);
}

/**
 * openConfiguredDatabase for the server, which also holds the database's server lock (server-lock.ts).
 * It is taken before any migration: a second server, a newer version started while the old one runs
 * included, is refused before it changes anything.
 */
export function openConfiguredDatabaseToServe(file: string): { db: Db; lock: ServerLock } {
  let lock: ServerLock = { release: () => undefined };
  const db = openAndMigrate(file, () => {
    if (file !== ":memory:") lock = holdServerLock(file);
  });
  return { db, lock };
}

function openAndMigrate(file: string, beforeMigrating: () => void): Db {
  let db: Db | undefined;
  try {
    // First: the check below opens the file, and SQLite would make a -wal and -shm of the other name.
    refuseAFileOfSeveralNames(file);
    refuseAnotherApplicationsDatabase(file);
    db = openDatabase(file);
    beforeMigrating();
    migrateDatabase(db);
    return db;
  } catch (error) {
    db?.$client.close();
    throw new Error(`KEYMINT_DB=${file}: ${databaseFailure(file, error)}`);
  }
}

/**
 * Opens KEYMINT_DB to read it only (a backup's source): never created, migrated or changed. A path that
 * names no KeyMint database fails here, instead of yielding a backup of an empty database that was
 * created on the spot.
 */
export function openConfiguredDatabaseToRead(file: string): Db {
  let db: Db | undefined;
  try {
    if (!existsSync(file)) throw new Error("no such database file");
    refuseAFileOfSeveralNames(file);
    db = openExistingDatabaseToRead(file);
    const tables = db.$client.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'keys'",
    );
    if (tables.get() === undefined) throw new Error("is not a KeyMint database (it has no keys table)");
    return db;
  } catch (error) {
    db?.$client.close();
    throw new Error(`KEYMINT_DB=${file}: ${databaseFailure(file, error)}`);
  }
}

/**
 * Refuses a SQLite file that holds tables but was never migrated by KeyMint: another application's
 * database, named by mistake, would otherwise get KeyMint's tables, a bootstrap root key and WAL mode.
 * Read without changing it, before openDatabase sets its pragmas. A new or empty file passes.
 */
function refuseAnotherApplicationsDatabase(file: string): void {
  if (file === ":memory:" || !existsSync(file) || isDirectory(file) || statSync(file).size === 0) return;
  const db = openExistingDatabaseToRead(file);
  try {
    const tables = db.$client
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .pluck()
      .all() as string[];
    if (tables.length === 0 || tables.includes(MIGRATIONS_TABLE)) return;
    const named = tables.slice(0, 3).join(", ") + (tables.length > 3 ? ", …" : "");
    throw new Error(
      `is not a KeyMint database (it holds other tables: ${named}); name a new file or a KeyMint database`,
    );
  } finally {
    db.$client.close();
  }
}

/**
 * Refuses a database file with more than one name (hard link). SQLite finds a database's write-ahead
 * log and shared memory by the name it was opened by (`<name>-wal`, `<name>-shm`), so a process using
 * the other name reads the file without the writes still in this one's log, writes a log of its own,
 * and can corrupt the database (sqlite.org/howtocorrupt.html, "Multiple links to the same file"). It
 * would also take a server lock of its own name (server-lock.ts): a second server on the same file.
 */
function refuseAFileOfSeveralNames(file: string): void {
  if (file === ":memory:" || !existsSync(file)) return;
  const { nlink } = statSync(file);
  if (nlink > 1) {
    throw new Error(
      `the database file has ${nlink} names (hard links); SQLite finds a database's write-ahead log by ` +
        "its name, so a process using another name could corrupt it: remove the other names",
    );
  }
}

/** The table in which drizzle's migrator records what it applied: every KeyMint database has it. */
const MIGRATIONS_TABLE = "__drizzle_migrations";

function databaseFailure(file: string, error: unknown): string {
  if (isDirectory(file)) return "is a directory; name a database file, e.g. keymint.db inside it";
  const failure = error as NodeJS.ErrnoException;
  // openDatabase creates the file's directory; EEXIST and ENOTDIR mean a file stands on that path.
  if (failure.syscall === "mkdir" && (failure.code === "EEXIST" || failure.code === "ENOTDIR")) {
    return `cannot create its directory ${failure.path ?? ""}: a file is in the way`;
  }
  return error instanceof Error ? error.message : String(error);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
