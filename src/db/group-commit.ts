import type Database from "better-sqlite3";
import { isStorageFailure } from "./storage-failure.js";

interface PendingWrite {
  write: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { value: unknown } | { error: unknown };

/**
 * Group commit for the writes of the API. With synchronous=FULL every commit is an fsync, and
 * better-sqlite3 runs it on the event loop: a write per request makes each one wait for the disk and
 * holds up every other request meanwhile. Writes handed to `run` in the same turn of the event loop
 * instead run together in one transaction, each in a savepoint of its own, and each resolves once
 * that transaction has committed: N concurrent writes cost one fsync.
 *
 * - Each write is synchronous (a better-sqlite3 statement or transaction) and sees the writes before
 *   it in the group, as if it ran alone after them.
 * - A write that throws is rolled back to its savepoint and rejects alone.
 * - A commit that fails, or an error after which SQLite rolled back the whole transaction, rejects
 *   every write of the group: none of them was written.
 * - Nothing resolves before its commit, so an answer built on a write never outlives a crash.
 * - Writes commit in the order they were handed over, including those that must not wait (`runNow`).
 *   Every write that adds a listed row or an audit event goes through the one GroupCommit of the repos
 *   (src/repo/index.ts), so the sequence that lists sort by follows the order of the clock readings
 *   they were made with: a key created just before a rotation is never listed after it.
 */
export class GroupCommit {
  private pending: PendingWrite[] = [];
  /**
   * Set when a write fails for the storage's sake (see STORAGE_FAILURE), and cleared only by
   * `storageRecovered` (readiness's probe): a small write that succeeds on a disk still too full for
   * larger ones must not report the database usable.
   */
  writesFailing = false;
  // Made once: better-sqlite3 builds four wrapper functions for every transaction() call, which cost
  // more than the savepoint itself when it was called per write.
  private readonly runAtomically: Database.Transaction<(write: () => unknown) => unknown>;
  private readonly runGroup: Database.Transaction<(group: PendingWrite[], outcomes: Outcome[]) => void>;

  constructor(sqlite: Database.Database) {
    // Inside the group's transaction better-sqlite3 runs this one as a savepoint; alone (runNow), as a
    // transaction of its own. Either way a write is atomic, and the repos need no transaction of theirs.
    this.runAtomically = sqlite.transaction((write: () => unknown) => write());
    this.runGroup = sqlite.transaction((group: PendingWrite[], outcomes: Outcome[]) => {
      for (const { write } of group) {
        try {
          outcomes.push({ value: this.runAtomically(write) });
        } catch (error) {
          // SQLite ends the whole transaction on some errors (SQLITE_FULL, an I/O error): then
          // the writes before this one are gone too, and the ones after must not run uncommitted.
          if (!sqlite.inTransaction) throw error;
          // It keeps it on others, a full disk among them: the group commits, this write does not.
          if (isStorageFailure(error)) this.writesFailing = true;
          outcomes.push({ error });
        }
      }
    });
  }

  run<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // setImmediate runs after the poll phase: the requests read in this turn have all queued theirs.
      if (this.pending.length === 0) setImmediate(() => this.commit());
      this.pending.push({ write, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  /**
   * Runs `write` at once, after committing the writes waiting for their group (so it still commits after
   * them): for changes, whose answer says they are done. A service's checks on the row it changes are
   * made earlier, and another request may commit in between: `write` repeats what it relies on, on the
   * row as it stands (see the key repo's update, revoke and delete, and rotate's plan).
   */
  runNow<T>(write: () => T): T {
    if (this.pending.length > 0) this.commit();
    try {
      return this.runAtomically.immediate(write) as T;
    } catch (error) {
      if (isStorageFailure(error)) this.writesFailing = true;
      throw error;
    }
  }

  /** Readiness's probe write succeeded: the storage takes writes again. */
  storageRecovered(): void {
    this.writesFailing = false;
  }

  private commit(): void {
    const group = this.pending;
    if (group.length === 0) return; // committed early by runNow
    this.pending = [];
    const outcomes: Outcome[] = [];
    try {
      this.runGroup.immediate(group, outcomes);
    } catch (error) {
      if (isStorageFailure(error)) this.writesFailing = true;
      for (const { reject } of group) reject(error);
      return;
    }
    group.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i] as Outcome;
      if ("error" in outcome) reject(outcome.error);
      else resolve(outcome.value);
    });
  }
}
