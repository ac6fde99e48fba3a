import {
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
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
 * - A backup holds every key hash, so it is readable by its owner only (0600) from the moment the file
 *   exists, and the directories it creates are 0700 (existing ones are left as they are).
 *
 * Refuses to write over the database itself, or onto a directory. Returns the number of pages copied.
 */
export async function backupDatabase(db: Db, file: string): Promise<number> {
  const target = resolve(file);
  const source = db.$client.name;
  if (existsSync(target) && existsSync(source) && realpathSync(target) === realpathSync(source)) {
    throw new Error(`Refusing to back up ${source} onto itself; name another file.`);
  }
  if (existsSync(target) && statSync(target).isDirectory()) {
    throw new Error(`${file} is a directory; name the backup file, e.g. ${join(file, "keymint.db")}`);
  }
  const directory = dirname(target);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const partial = join(directory, `.${basename(target)}.${process.pid}.partial`);
  try {
    createOwnerOnlyFile(partial);
    const result = await db.$client.backup(partial, { progress: () => ALL_PAGES });
    renameSync(partial, target);
    syncDirectory(directory);
    return result.totalPages;
  } finally {
    rmSync(partial, { force: true });
  }
}

/**
 * Creates `file` empty with mode 0600 for SQLite to back up into. SQLite would create a new file 0644
 * (less the umask) and only then could it be narrowed, while it keeps the mode of a file that exists,
 * an empty file being an empty database, and gives its journal the same mode.
 */
function createOwnerOnlyFile(file: string): void {
  // A partial left by a crashed run with the same pid; "wx" then never opens a file (or symlink) it did not create.
  rmSync(file, { force: true });
  const fd = openSync(file, "wx", 0o600);
  try {
    // Exactly 0600 whatever the umask: a umask taking the owner's write bit would leave SQLite unable to write.
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
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
