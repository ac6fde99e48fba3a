import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { type BetterSQLite3Database, drizzle } from "drizzle-orm/better-sqlite3";
import * as schema from "./schema.js";

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/**
 * Opens SQLite with the pragmas KeyMint relies on, all in one place:
 * WAL for concurrent readers, synchronous=FULL so an acknowledged write survives a power cut,
 * foreign keys on, a busy timeout so a second process (the CLI) waits instead of failing, and a
 * 4 MiB page cache (better-sqlite3's default is 16 MB): verify caches what it reads, and with a
 * large database the pages a miss needs come from the OS page cache just as fast (measured at 1M
 * keys: the same lookup time at 4, 8, 16 and 256 MB, and the same miss throughput under load at 4
 * and 8; at 10M keys, the same 53 µs of CPU a miss at 4 and 32 MiB), so a larger cache would only be
 * resident memory: 4 MiB instead of 8 took 5-10 MB off the RSS reading at 1M keys stored and 100k cached.
 */
export function openDatabase(file: string): Db {
  if (file !== ":memory:") {
    mkdirSync(dirname(file), { recursive: true });
    // It holds every key's hash: readable by its owner only. Created here (an existing file keeps its
    // mode), because SQLite would create it 0644 less the umask; its -wal and -shm files take its mode.
    closeSync(openSync(file, "a", 0o600));
  }
  const sqlite = new Database(file);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("cache_size = -4096");
  return drizzle(sqlite, { schema }) as Db;
}

/**
 * Opens a database that must exist, read-only: for a backup, which only reads. SQLite still maps the
 * WAL index (-shm) of a database in WAL mode, which it creates if the server is not running.
 */
export function openExistingDatabaseToRead(file: string): Db {
  const sqlite = new Database(file, { readonly: true, fileMustExist: true });
  sqlite.pragma("busy_timeout = 5000");
  return drizzle(sqlite, { schema }) as Db;
}
