import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it, vi } from "vitest";
import { backupDatabase } from "../../src/db/backup.js";
import { openDatabase } from "../../src/db/client.js";
import { migrateDatabase } from "../../src/db/migrate.js";

// A backup holds every key hash: readable by its owner only (0600) whatever the umask, and complete.
describe("backupDatabase under a umask taking the owner's write bit", () => {
  const dir = mkdtempSync(join(tmpdir(), "keymint-backup-mode-"));
  let previous: number | undefined;
  afterEach(() => {
    if (previous !== undefined) process.umask(previous);
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes a 0600, readable copy", async () => {
    const db = openDatabase(join(dir, "live.db"));
    migrateDatabase(db);
    previous = process.umask(0o277);
    const target = join(dir, "copy.db");
    const pages = await backupDatabase(db, target);
    process.umask(previous);
    previous = undefined;
    db.$client.close();
    expect(pages).toBeGreaterThan(0);
    expect(statSync(target).mode & 0o777).toBe(0o600);
    const copy = new Database(target, { readonly: true });
    expect(copy.prepare("select count(*) as n from sqlite_master").get()).toBeTruthy();
    copy.close();
  });

  it("leaves no partial copy behind when the backup cannot be put in place", async () => {
    mkdirSync(dir, { recursive: true }); // the describe's afterEach removes it after each test
    const db = openDatabase(join(dir, "live.db"));
    migrateDatabase(db);
    const target = join(dir, "taken");
    // A directory at the target is refused before anything is written: this one appears while the copy
    // is made, and, not empty, the rename onto it fails.
    const backup = db.$client.backup.bind(db.$client);
    vi.spyOn(db.$client, "backup").mockImplementationOnce(async (...args) => {
      const copied = await backup(...args);
      mkdirSync(target);
      writeFileSync(join(target, "something"), "x");
      return copied;
    });
    await expect(backupDatabase(db, target)).rejects.toThrow();
    db.$client.close();
    expect(readdirSync(dir).filter((name) => name.includes("partial"))).toEqual([]);
  });
});
