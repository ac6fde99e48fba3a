import { closeSync, existsSync, fsyncSync, openSync, realpathSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Db } from "./client.js";

/** Pages per backup step: all of them, so the copy is taken in one read transaction (see below). */
const ALL_PAGES = 0x7fffffff;

/**
 * Copies the live database to `file` with SQLite's online backup API while the server keeps writing.
 *
 * - The pages go in one step, under one read transaction: in WAL mode that never blocks the server's
 *   writers, and the copy is a consistent snapshot (every write committed before the backup started,
 *   none half-applied). Copying in small steps instead restarts from the first page whenever another
 *   connection writes, which under steady load may never finish.
 * - The copy is written beside `file` and renamed over it at the end, so `file` is at every moment
 *   either the previous backup or the complete new one.
 *
 * Refuses to write over the database itself. Returns the number of pages copied.
 */
export async function backupDatabase(db: Db, file: string): Promise<number> {
  const target = resolve(file);
  const source = db.$client.name;
  if (existsSync(target) && existsSync(source) && realpathSync(target) === realpathSync(source)) {
    throw new Error(`Refusing to back up ${source} onto itself; name another file.`);
  }
  const partial = join(dirname(target), `.${basename(target)}.${process.pid}.partial`);
  try {
    const result = await db.$client.backup(partial, { progress: () => ALL_PAGES });
    renameSync(partial, target);
    syncDirectory(dirname(target));
    return result.totalPages;
  } finally {
    rmSync(partial, { force: true });
  }
}

/** Makes a rename in `directory` durable (a power cut right after it keeps the new name). */
function syncDirectory(directory: string): void {
  const fd = openSync(directory, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
