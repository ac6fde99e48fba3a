import { statSync } from "node:fs";
import { type Db, openDatabase } from "./client.js";
import { migrateDatabase } from "./migrate.js";

/** Opens and migrates KEYMINT_DB; a failure names the setting, as a bad setting must (contract §7). */
export function openConfiguredDatabase(file: string): Db {
  try {
    const db = openDatabase(file);
    migrateDatabase(db);
    return db;
  } catch (error) {
    throw new Error(`KEYMINT_DB=${file}: ${databaseFailure(file, error)}`);
  }
}

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
