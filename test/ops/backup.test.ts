import { spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { backupDatabase } from "../../src/db/backup.js";
import { createKey, createKeyspace, createTestApp, type TestApp } from "../helpers.js";
import { freePort, TSX } from "../support/ops.js";
import { REPO_ROOT, startServer } from "../support/server-process.js";

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `cli backup <file> --json` on `database`; `exited` settles when the process ends. */
function startBackup(database: string, file: string) {
  const child = spawn(TSX, ["src/cli.ts", "backup", file, "--json"], {
    cwd: REPO_ROOT,
    env: { ...process.env, KEYMINT_DB: database },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => {
    stdout += String(chunk);
  });
  child.stderr.on("data", (chunk) => {
    stderr += String(chunk);
  });
  let done = false;
  const exited = new Promise<CliRun>((resolve) =>
    child.once("exit", (code) => {
      done = true;
      resolve({ code, stdout, stderr });
    }),
  );
  return { exited, done: () => done };
}

function keyIdsIn(file: string): Set<string> {
  const copy = new Database(file, { readonly: true });
  try {
    expect(copy.pragma("integrity_check", { simple: true })).toBe("ok");
    return new Set((copy.prepare("SELECT id FROM keys").all() as { id: string }[]).map((row) => row.id));
  } finally {
    copy.close();
  }
}

describe("backups (cli backup <file>, and the backupDatabase it runs)", () => {
  let dir: string;
  let database: string;
  let t: TestApp;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "keymint-backup-"));
    database = join(dir, "live.db");
    t = await createTestApp({ dbFile: database });
  });
  afterEach(() => {
    t.db.$client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // A backup holds every key hash: readable by its owner only (0600) whatever the umask, and complete.
  it("writes a 0600, readable copy under a umask taking the owner's write bit", async () => {
    const target = join(dir, "copy.db");
    const previous = process.umask(0o277);
    let pages: number;
    try {
      pages = await backupDatabase(t.db, target);
    } finally {
      process.umask(previous);
    }
    expect(pages).toBeGreaterThan(0);
    expect(statSync(target).mode & 0o777).toBe(0o600);
    const copy = new Database(target, { readonly: true });
    expect(copy.prepare("select count(*) as n from sqlite_master").get()).toBeTruthy();
    copy.close();
  });

  it("leaves no partial copy behind when the backup cannot be put in place", async () => {
    const target = join(dir, "taken");
    // A directory at the target is refused before anything is written: this one appears while the copy
    // is made, and, not empty, the rename onto it fails.
    const backup = t.db.$client.backup.bind(t.db.$client);
    vi.spyOn(t.db.$client, "backup").mockImplementationOnce(async (...args) => {
      const copied = await backup(...args);
      mkdirSync(target);
      writeFileSync(join(target, "something"), "x");
      return copied;
    });
    await expect(backupDatabase(t.db, target)).rejects.toThrow();
    expect(readdirSync(dir).filter((name) => name.includes("partial"))).toEqual([]);
  });

  it("copies a consistent snapshot while the server writes: integrity ok, every acknowledged key in it", async () => {
    const keyspace = await createKeyspace(t);
    const created: { id: string; key: string }[] = [];
    // About 200 pages: more than one step at the backup API's default pace of 100 pages.
    for (let i = 0; i < 800; i++)
      created.push(await createKey(t, { keyspaceId: keyspace.id, name: `k${i}` }));
    const acknowledgedBefore = created.length;
    const copyFile = join(dir, "copy.db");

    const backup = startBackup(database, copyFile);
    // Write load for as long as the backup runs: each create is acknowledged (committed) before the next.
    // app.request() settles without reaching the event loop, so yield to it for the child's exit event.
    const deadline = Date.now() + 25_000;
    while (!backup.done() && Date.now() < deadline) {
      created.push(await createKey(t, { keyspaceId: keyspace.id }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const run = await backup.exited;

    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toStrictEqual({ backup: copyFile, pages: expect.any(Number) });
    expect(created.length - acknowledgedBefore, "keys created while the backup ran").toBeGreaterThan(0);
    // A self-contained file: no -wal to carry along, and no partial file left behind.
    expect(readdirSync(dir).sort()).toStrictEqual(["copy.db", "live.db", "live.db-shm", "live.db-wal"]);

    const inCopy = keyIdsIn(copyFile);
    const missing = created.slice(0, acknowledgedBefore).filter(({ id }) => !inCopy.has(id));
    expect(missing, "keys acknowledged before the backup started but missing from it").toStrictEqual([]);
    // A snapshot: exactly the keys created up to some moment, never a later key without an earlier one.
    expect(inCopy.size).toBeGreaterThanOrEqual(acknowledgedBefore);
    expect(created.slice(0, inCopy.size).every(({ id }) => inCopy.has(id))).toBe(true);
  });

  it("restores: a server started on a copy of the backup verifies the keys it holds", async () => {
    const keyspace = await createKeyspace(t);
    const key = await createKey(t, { keyspaceId: keyspace.id });
    const copyFile = join(dir, "copy.db");
    expect((await startBackup(database, copyFile).exited).code).toBe(0);

    // The README's restore: server stopped, backup copied over KEYMINT_DB, no stale -wal/-shm beside it.
    const restored = join(dir, "restored.db");
    copyFileSync(copyFile, restored);
    expect(existsSync(`${restored}-wal`)).toBe(false);
    const server = await startServer({
      dbFile: restored,
      port: await freePort(),
      env: { LOG_LEVEL: "silent" },
    });
    try {
      const response = await fetch(`${server.url}/v1/keys/verify`, {
        method: "POST",
        headers: { authorization: `Bearer ${t.rootKey}`, "content-type": "application/json" },
        body: JSON.stringify({ key: key.key }),
      });
      expect(((await response.json()) as { code: string }).code).toBe("VALID");
    } finally {
      expect((await server.kill("SIGTERM")).code).toBe(0);
    }
  });

  it("never creates, migrates or changes its source: a mistyped KEYMINT_DB or another SQLite file fails", async () => {
    const typo = join(dir, "missing", "keymnt.db");
    const missing = await startBackup(typo, join(dir, "typo-backup.db")).exited;
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`keymint: KEYMINT_DB=${typo}: no such database file\n`);
    expect(existsSync(typo) || existsSync(join(dir, "missing")), "the mistyped path was created").toBe(false);
    expect(existsSync(join(dir, "typo-backup.db"))).toBe(false);

    const other = join(dir, "notes.db");
    const notes = new Database(other);
    notes.exec("CREATE TABLE notes (x)");
    notes.close();
    const before = readFileSync(other);
    const foreign = await startBackup(other, join(dir, "notes-backup.db")).exited;
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toContain("is not a KeyMint database");
    expect(readFileSync(other).equals(before), "the other database was changed").toBe(true);
  });

  it("refuses to write over the live database and leaves it intact", async () => {
    const keyspace = await createKeyspace(t);
    const key = await createKey(t, { keyspaceId: keyspace.id });
    const run = await startBackup(database, database).exited;
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`keymint: Refusing to back up ${database} onto itself; name another file.\n`);
    expect((await t.call("GET", `/v1/keys/${key.id}`)).status).toBe(200);
    expect(keyIdsIn(database).has(key.id)).toBe(true);
  });

  it("refuses to write over the live database when KEYMINT_DB names it by another path", async () => {
    const keyspace = await createKeyspace(t);
    const key = await createKey(t, { keyspaceId: keyspace.id });
    const sameFile = `${dir}/../${basename(dir)}/live.db`; // the same file as `database`, not normalised
    const run = await startBackup(sameFile, database).exited;
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`keymint: Refusing to back up ${sameFile} onto itself; name another file.\n`);
    expect((await t.call("GET", `/v1/keys/${key.id}`)).status).toBe(200);
    expect(keyIdsIn(database).has(key.id)).toBe(true);
  });
});
