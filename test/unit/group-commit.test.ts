import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { GroupCommit } from "../../src/db/group-commit.js";
import { tempDatabase } from "../support/server-process.js";

describe("GroupCommit", () => {
  let database: ReturnType<typeof tempDatabase>;
  let sqlite: Database.Database;
  /** A second connection to the same file: it sees only what has been committed. */
  let reader: Database.Database;
  let commits: GroupCommit;

  beforeEach(() => {
    database = tempDatabase();
    sqlite = new Database(database.file);
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("foreign_keys = ON");
    sqlite.exec(`CREATE TABLE parents (id TEXT PRIMARY KEY);
      CREATE TABLE items (name TEXT PRIMARY KEY,
        parent TEXT REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED)`);
    reader = new Database(database.file, { readonly: true });
    commits = new GroupCommit(sqlite);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    reader.close();
    sqlite.close();
    database.remove();
  });

  const insert =
    (name: string, parent: string | null = null) =>
    () =>
      sqlite.prepare("INSERT INTO items (name, parent) VALUES (?, ?)").run(name, parent).changes;
  const stored = () =>
    (reader.prepare("SELECT name FROM items ORDER BY name").all() as { name: string }[]).map(
      (row) => row.name,
    );

  describe("writesFailing", () => {
    const storageFailure = (code: string) => () => {
      throw Object.assign(new Error("database or disk is full"), { code });
    };

    it("is set by a write of a group that failed for the storage's sake, though the group committed", async () => {
      const results = await Promise.allSettled([
        commits.run(insert("a")),
        commits.run(storageFailure("SQLITE_FULL")),
      ]);
      expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected"]);
      expect(stored()).toEqual(["a"]);
      expect(commits.writesFailing).toBe(true);
    });

    it("is set by runNow on a storage failure, not by a write refused for its content", () => {
      commits.runNow(insert("a"));
      expect(() => commits.runNow(insert("a"))).toThrow(/UNIQUE/);
      expect(commits.writesFailing).toBe(false);
      expect(() => commits.runNow(storageFailure("SQLITE_IOERR_WRITE"))).toThrow();
      expect(commits.writesFailing).toBe(true);
    });

    it("stays set through writes that succeed, until the storage is declared recovered", async () => {
      expect(() => commits.runNow(storageFailure("SQLITE_FULL"))).toThrow();
      // A small write may fit where larger ones do not: it says nothing of the storage.
      commits.runNow(insert("a"));
      await commits.run(insert("b"));
      expect(commits.writesFailing).toBe(true);
      commits.storageRecovered();
      expect(commits.writesFailing).toBe(false);
    });
  });

  it("commits the writes of one turn together, in order, each seeing those before it", async () => {
    sqlite.pragma("wal_checkpoint(TRUNCATE)");
    const counted: number[] = [];
    const count = () => {
      counted.push((sqlite.prepare("SELECT count(*) AS n FROM items").get() as { n: number }).n);
      return insert(`c${counted.length}`)();
    };
    const results = await Promise.all([commits.run(insert("a")), commits.run(count), commits.run(count)]);
    expect(results).toStrictEqual([1, 1, 1]);
    expect(counted).toStrictEqual([1, 2]);
    expect(stored()).toStrictEqual(["a", "c1", "c2"]);
    await commits.run(insert("later"));
    // A commit appends the pages it changed to the WAL, here the table's and its primary key's: two
    // commits write four frames, where one commit per write would write eight.
    const [wal] = sqlite.pragma("wal_checkpoint(PASSIVE)") as { log: number }[];
    expect(wal?.log).toBe(4);
  });

  it("resolves a write only once it is committed", async () => {
    const written = commits.run(insert("a"));
    let resolved = false;
    written.then(() => {
      resolved = true;
    });
    await Promise.resolve();
    expect(resolved).toBe(false);
    expect(stored()).toStrictEqual([]);
    await written;
    expect(stored()).toStrictEqual(["a"]);
  });

  it("rolls back a write that throws, alone", async () => {
    const failing = () => {
      insert("b")();
      throw new Error("refused");
    };
    const results = await Promise.allSettled([
      commits.run(insert("a")),
      commits.run(failing),
      commits.run(insert("c")),
    ]);
    expect(results.map((result) => result.status)).toStrictEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(stored()).toStrictEqual(["a", "c"]);
  });

  it("rejects every write of the group when the commit fails, and writes none", async () => {
    // A deferred foreign key is checked at COMMIT: the whole group's commit fails.
    const results = await Promise.allSettled([
      commits.run(insert("a")),
      commits.run(insert("orphan", "no-such-parent")),
      commits.run(insert("c")),
    ]);
    expect(results.map((result) => result.status)).toStrictEqual(["rejected", "rejected", "rejected"]);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/FOREIGN KEY/);
    expect(stored()).toStrictEqual([]);
    expect(sqlite.inTransaction).toBe(false);
    await commits.run(insert("next"));
    expect(stored()).toStrictEqual(["next"]);
  });

  it("stops a group whose transaction SQLite ended, running none of its later writes outside it", async () => {
    // As SQLite does itself on SQLITE_FULL or an I/O error: the transaction is rolled back whole.
    const endsTheTransaction = () => {
      insert("b")();
      sqlite.exec("ROLLBACK");
      throw new Error("disk full");
    };
    const after = vi.fn(insert("c"));
    const results = await Promise.allSettled([
      commits.run(insert("a")),
      commits.run(endsTheTransaction),
      commits.run(after),
    ]);
    expect(results.map((result) => result.status)).toStrictEqual(["rejected", "rejected", "rejected"]);
    expect(after).not.toHaveBeenCalled();
    expect(stored()).toStrictEqual([]);
    expect(sqlite.inTransaction).toBe(false);
  });
});
