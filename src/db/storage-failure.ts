// SQLite's result codes for a database it cannot write: a full disk, an I/O error, a file made
// read-only or unreadable, a damaged file. Not SQLITE_BUSY (another writer, gone in a moment) nor a
// constraint (a write refused for its content).
const STORAGE_FAILURE = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB|PERM)/;

/** Whether `error` is SQLite failing for the storage's sake rather than for the request's. */
export function isStorageFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && STORAGE_FAILURE.test(code);
}
