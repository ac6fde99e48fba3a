import { spawn } from "node:child_process";
import { existsSync, linkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  openConfiguredDatabase,
  openConfiguredDatabaseToRead,
  openConfiguredDatabaseToServe,
} from "../../src/db/open-configured.js";
import { holdServerLock, serverLockFile } from "../../src/db/server-lock.js";
import {
  callServer,
  REPO_ROOT,
  startServer,
  stopAllServers,
  tempDatabase,
} from "../support/server-process.js";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the server's source with `env` until it exits by itself (a start that fails), killing it after 20 s. */
function runToExit(env: Record<string, string>): Promise<Run> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/index.ts"], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", LOG_LEVEL: "info", CI: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  return new Promise((resolve) => {
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A server holding a loopback port, as another program would. */
function holdPort(): Promise<{ port: number; release(): Promise<void> }> {
  const holder: Server = createServer();
  return new Promise((resolve, reject) => {
    holder.once("error", reject);
    holder.listen(0, "127.0.0.1", () => {
      const address = holder.address();
      if (typeof address !== "object" || address === null) return reject(new Error("no port"));
      resolve({ port: address.port, release: () => new Promise((done) => holder.close(() => done())) });
    });
  });
}

describe("start-up failures", () => {
  let database: ReturnType<typeof tempDatabase>;
  beforeEach(() => {
    database = tempDatabase();
  });
  afterEach(async () => {
    await stopAllServers();
    database.remove();
  });

  it("exits 1 with one line naming HOST and PORT when the port is taken, and keeps the bootstrap for the next start", async () => {
    const busy = await holdPort();
    let failed: Run;
    try {
      failed = await runToExit({ KEYMINT_DB: database.file, HOST: "127.0.0.1", PORT: String(busy.port) });
    } finally {
      await busy.release();
    }
    expect(failed).toStrictEqual({
      code: 1,
      stdout: "",
      stderr: `KeyMint failed to start: cannot listen on 127.0.0.1:${busy.port} (address already in use); set PORT or HOST\n`,
    });

    const server = await startServer({ dbFile: database.file });
    const rootKey = server.bootstrapRootKey;
    if (rootKey === null)
      throw new Error(`the start after a failed one printed no root key:\n${server.stdout()}`);
    expect(server.stdout().indexOf(rootKey)).toBeLessThan(
      server.stdout().indexOf('"msg":"KeyMint listening"'),
    );
    expect((await callServer(server, rootKey, "GET", "/v1/keyspaces")).status).toBe(200);
    // Contract §7: workspace `default`, and a root key with `*`.
    const rootKeys = await callServer(server, rootKey, "GET", "/v1/root-keys");
    expect(rootKeys.body.data).toMatchObject([
      { permissions: ["*"], ownerId: null, last4: rootKey.slice(-4) },
    ]);
    const stored = new Database(database.file, { readonly: true });
    const workspaces = stored.prepare("SELECT id, name FROM workspaces").all();
    stored.close();
    expect(workspaces).toStrictEqual([{ id: rootKeys.body.data[0].workspaceId, name: "default" }]);
  });

  it("names KEYMINT_DB and the reason when the database path is a directory or lies under a file", async () => {
    const directory = dirname(database.file);
    const file = join(directory, "plain-file");
    writeFileSync(file, "not a directory");
    const [inDirectory, underFile] = await Promise.all([
      runToExit({ KEYMINT_DB: directory, PORT: "0", HOST: "127.0.0.1" }),
      runToExit({ KEYMINT_DB: join(file, "keymint.db"), PORT: "0", HOST: "127.0.0.1" }),
    ]);
    expect(inDirectory).toStrictEqual({
      code: 1,
      stdout: "",
      stderr: `KeyMint failed to start: KEYMINT_DB=${directory}: is a directory; name a database file, e.g. keymint.db inside it\n`,
    });
    expect(underFile).toStrictEqual({
      code: 1,
      stdout: "",
      stderr: `KeyMint failed to start: KEYMINT_DB=${join(file, "keymint.db")}: cannot create its directory ${file}: a file is in the way\n`,
    });
  });

  it("refuses another application's SQLite database, naming KEYMINT_DB, and leaves it as it was", async () => {
    const foreign = new Database(database.file);
    foreign.exec(
      "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER); INSERT INTO orders VALUES (1, 42);",
    );
    foreign.close();
    const run = await runToExit({ KEYMINT_DB: database.file, PORT: "0", HOST: "127.0.0.1" });
    expect(run).toStrictEqual({
      code: 1,
      stdout: "",
      stderr: `KeyMint failed to start: KEYMINT_DB=${database.file}: is not a KeyMint database (it holds other tables: orders); name a new file or a KeyMint database\n`,
    });
    const after = new Database(database.file, { readonly: true });
    expect(after.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()).toEqual([
      "orders",
    ]);
    expect(after.pragma("journal_mode", { simple: true })).toBe("delete");
    after.close();
    // An empty file is a new database, as is no file at all.
    writeFileSync(database.file, "");
    const server = await startServer({ dbFile: database.file });
    expect(server.bootstrapRootKey).not.toBeNull();
  });

  // Each server drops a changed key from its own cache only: a key revoked through one server would
  // still verify on another serving the same file, so a second server is refused (src/db/server-lock.ts).
  it("refuses a second server on a database a server is serving, naming KEYMINT_DB, and starts once the first is gone, even killed", async () => {
    const first = await startServer({ dbFile: database.file });
    const rootKey = first.bootstrapRootKey as string;
    const second = await runToExit({ KEYMINT_DB: database.file, PORT: "0", HOST: "127.0.0.1" });
    expect(second).toStrictEqual({
      code: 1,
      stdout: "",
      stderr:
        `KeyMint failed to start: KEYMINT_DB=${database.file}: another KeyMint server is serving this database. ` +
        "Each server caches keys, so a key revoked through one would still verify on the other: run one server per database file\n",
    });
    expect((await callServer(first, rootKey, "GET", "/v1/keyspaces")).status).toBe(200);
    // The lock is the OS's: a server that dies without a word leaves nothing to clean up.
    await first.kill("SIGKILL");
    const next = await startServer({ dbFile: database.file });
    expect(next.bootstrapRootKey).toBeNull();
    expect((await callServer(next, rootKey, "GET", "/v1/keyspaces")).status).toBe(200);
    expect(statSync(serverLockFile(database.file)).mode & 0o777).toBe(0o600);
  });

  it("takes the server lock before migrating (a refused server changes nothing, a newer one included), and refuses a file of two names", () => {
    writeFileSync(database.file, ""); // a new database, as openDatabase creates it before the lock
    const held = holdServerLock(database.file);
    try {
      expect(() => openConfiguredDatabaseToServe(database.file)).toThrow(
        `KEYMINT_DB=${database.file}: another KeyMint server is serving this database.`,
      );
      const after = new Database(database.file, { readonly: true });
      expect(after.prepare("SELECT count(*) FROM sqlite_master").pluck().get()).toBe(0);
      after.close();
    } finally {
      held.release();
    }
    const { db, lock } = openConfiguredDatabaseToServe(database.file);
    expect(db.$client.prepare("SELECT count(*) FROM keys").pluck().get()).toBe(0);
    // The same file reached through a symlink is the same database.
    const link = join(dirname(database.file), "linked.db");
    symlinkSync(database.file, link);
    expect(() => openConfiguredDatabaseToServe(link)).toThrow(
      `KEYMINT_DB=${link}: another KeyMint server is serving this database.`,
    );
    db.$client.close();
    lock.release();
    // A second name (a hard link) would have a lock, a -wal and a -shm of its own: every opener refuses
    // the file under either name, the server, the CLI and a backup's read.
    const hardLink = join(dirname(database.file), "hard-linked.db");
    linkSync(database.file, hardLink);
    const refusal = "the database file has 2 names (hard links); SQLite finds a database's write-ahead log";
    for (const name of [database.file, hardLink]) {
      expect(() => openConfiguredDatabaseToServe(name)).toThrow(`KEYMINT_DB=${name}: ${refusal}`);
      expect(() => openConfiguredDatabase(name)).toThrow(`KEYMINT_DB=${name}: ${refusal}`);
      expect(() => openConfiguredDatabaseToRead(name)).toThrow(`KEYMINT_DB=${name}: ${refusal}`);
    }
    // Refused before SQLite opens it: nothing is made under the second name.
    for (const file of [`${hardLink}-wal`, `${hardLink}-shm`]) expect(existsSync(file), file).toBe(false);
  });
});
