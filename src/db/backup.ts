import type { Db } from "./client.js";

/**
 * Copies the live database to `file` with SQLite's online backup API: consistent, and safe while the
 * server keeps writing (the copy is a snapshot as of the backup's end). Returns the page count.
 */
export async function backupDatabase(db: Db, file: string): Promise<number> {
  const result = await db.$client.backup(file);
  return result.totalPages;
}
