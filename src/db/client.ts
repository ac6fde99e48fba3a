import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { type BetterSQLite3Database, drizzle } from "drizzle-orm/better-sqlite3";
import * as schema from "./schema.js";

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/**
 * Opens SQLite with the pragmas KeyMint relies on, all in one place:
 * WAL for concurrent readers, synchronous=FULL so an acknowledged write survives a power cut,
 * foreign keys on, and a busy timeout so a second process (the CLI) waits instead of failing.
 */
export function openDatabase(file: string): Db {
  if (file !== ":memory:" && !file.startsWith("file:")) mkdirSync(dirname(file), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  return drizzle(sqlite, { schema }) as Db;
}
