import { execFile } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, createTestApp } from "../helpers.js";

const root = join(import.meta.dirname, "../..");
const tsx = createRequire(import.meta.url).resolve("tsx/cli");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a child process, as `npm run cli -- …` does, on its own environment. */
function cli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [tsx, join(root, "src/cli.ts"), ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? "", ...env }, timeout: 20_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The JSON of a --json run: exactly one line. */
function oneJsonLine(run: Run) {
  expect(run.code, run.stderr).toBe(0);
  const lines = run.stdout.split("\n").filter(Boolean);
  expect(lines, run.stdout).toHaveLength(1);
  expect(run.stdout.endsWith("\n")).toBe(true);
  return JSON.parse(lines[0] ?? "");
}

/** The permission bits of a file or directory, as in `ls -l`: 0o600 is rw-------. */
function modeOf(path: string): string {
  return (statSync(path).mode & 0o777).toString(8);
}

/** How many rows each table a command writes to holds. */
function rowCounts(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true });
  try {
    return Object.fromEntries(
      ["workspaces", "root_keys", "audit_events"].map((table) => [
        table,
        (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n,
      ]),
    );
  } finally {
    db.close();
  }
}

/** The shape of a JSON value: its keys and the types of its leaves (null kept apart). */
function shapeOf(value: unknown): unknown {
  if (value === null) return "null";
  if (Array.isArray(value)) return value.map(shapeOf);
  if (typeof value === "object") {
    return Object.fromEntries(Object.entries(value as object).map(([key, inner]) => [key, shapeOf(inner)]));
  }
  return typeof value;
}

describe("keymint CLI", () => {
  let dir: string;
  let env: Record<string, string>;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "keymint-cli-"));
    env = { KEYMINT_DB: join(dir, "keymint.db") };
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("migrates a new database and prints one JSON line with --json", async () => {
    expect(oneJsonLine(await cli(["migrate", "--json"], env))).toEqual({
      migrated: true,
      database: env.KEYMINT_DB,
    });
  });

  it("names KEYMINT_DB when the database cannot be opened, and exits 1", async () => {
    const run = await cli(["migrate", "--json"], { KEYMINT_DB: dir });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(`KEYMINT_DB=${dir}: is a directory`);
  });

  it("creates a workspace whose --json line has the shape of POST /v1/admin/workspaces, and whose root key works", async () => {
    const created = oneJsonLine(await cli(["workspace", "create", "acme", "--json"], env));
    expect(created.workspace.name).toBe("acme");
    expect(created.rootKey).toMatchObject({
      key: expect.stringMatching(/^km_root_[0-9A-Za-z]{50}$/),
      workspaceId: created.workspace.id,
      permissions: ["*"],
      ownerId: null,
      revokedAt: null,
    });

    const t = await createTestApp({ dbFile: env.KEYMINT_DB });
    const viaApi = await t.call("POST", "/v1/admin/workspaces", {
      body: { name: "acme" },
      token: ADMIN_TOKEN,
    });
    expect(shapeOf(created)).toEqual(shapeOf(viaApi.body));

    const rootKeys = await t.call("GET", "/v1/root-keys", { token: created.rootKey.key });
    expect(rootKeys.status).toBe(200);
    const { key: _, ...listed } = created.rootKey;
    expect(rootKeys.body.data).toEqual([
      expect.objectContaining({ ...listed, lastUsedAt: expect.any(String) }),
    ]);
    const keyspace = await t.call("POST", "/v1/keyspaces", {
      body: { name: "docs", prefix: "clidocs" },
      token: created.rootKey.key,
    });
    expect(keyspace.body.workspaceId).toBe(created.workspace.id);
    const audit = await t.call("GET", "/v1/audit-events?action=workspace.create", {
      token: created.rootKey.key,
    });
    expect(audit.body.data[0]).toMatchObject({
      actor: { type: "system", id: null },
      resourceId: created.workspace.id,
    });
    t.db.$client.close();
  });

  it('creates a root key with no permissions for --permissions "", as the API does for []', async () => {
    const workspace = oneJsonLine(await cli(["workspace", "create", "acme", "--json"], env)).workspace;
    const base = ["root-key", "create", "--workspace", workspace.id, "--json"];
    expect(oneJsonLine(await cli([...base, "--permissions", ""], env))).toMatchObject({ permissions: [] });
    const commas = await cli([...base, "--permissions", ","], env);
    expect(commas.code).toBe(2);
    expect(commas.stderr).toMatch(/--permissions takes a comma-separated list/);
  });

  it("creates a root key with the given name and permissions that works against the API", async () => {
    const workspace = oneJsonLine(await cli(["workspace", "create", "acme", "--json"], env)).workspace;
    const run = await cli(
      [
        "root-key",
        "create",
        "--workspace",
        workspace.id,
        "--name",
        "ci",
        "--permissions",
        "keys:read,keys:verify",
        "--json",
      ],
      env,
    );
    const created = oneJsonLine(run);
    expect(created).toEqual({
      key: expect.stringMatching(/^km_root_[0-9A-Za-z]{50}$/),
      id: expect.stringMatching(/^rk_[0-9A-Za-z]{12}$/),
      workspaceId: workspace.id,
      name: "ci",
      start: created.key.slice(0, "km_root_".length + 12),
      last4: created.key.slice(-4),
      permissions: ["keys:read", "keys:verify"],
      ownerId: null,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      revokedAt: null,
      lastUsedAt: null,
    });
    const t = await createTestApp({ dbFile: env.KEYMINT_DB });
    expect((await t.call("GET", "/v1/keys", { token: created.key })).status).toBe(200);
    expect((await t.call("GET", "/v1/keyspaces", { token: created.key })).status).toBe(403);
    t.db.$client.close();
  });

  it("prints human output with the key once by default", async () => {
    const run = await cli(["workspace", "create", "acme"], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/km_root_[0-9A-Za-z]{50}/);
    expect(run.stdout.match(/km_root_[0-9A-Za-z]{50}/g)).toHaveLength(1);
    expect(() => JSON.parse(run.stdout)).toThrow();
  });

  it.each<[string, string[], RegExp]>([
    ["an unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
    ["no command", [], /no command given/],
    ["no command with --json", ["--json"], /no command given/],
    [
      "migrate with an extra argument",
      ["migrate", "now", "--json"],
      /unexpected argument 'now' for 'migrate'/,
    ],
    [
      "workspace create with an unquoted two-word name",
      ["workspace", "create", "Acme", "Corp", "--json"],
      /unexpected argument 'Corp' for 'workspace create'/,
    ],
    [
      "root-key create with an extra argument",
      ["root-key", "create", "ci", "--workspace", "ws_x", "--json"],
      /unexpected argument 'ci' for 'root-key create'/,
    ],
    ["workspace create without a name", ["workspace", "create", "--json"], /'workspace create' needs <name>/],
    [
      "migrate with --workspace",
      ["migrate", "--workspace", "ws_x", "--json"],
      /option '--workspace' does not apply to 'migrate'/,
    ],
    [
      "workspace create with --name",
      ["workspace", "create", "acme", "--name", "ci", "--json"],
      /option '--name' does not apply to 'workspace create'/,
    ],
    [
      "root-key create with --workspace given twice",
      ["root-key", "create", "--workspace", "ws_a", "--workspace", "ws_b", "--json"],
      /option '--workspace' is given more than once/,
    ],
    ["root-key create without --workspace", ["root-key", "create", "--permissions", "keys:read"], /Usage/],
    [
      "an unknown permission",
      ["root-key", "create", "--workspace", "ws_x", "--permissions", "keys:all"],
      /--permissions/,
    ],
    ["an unknown option", ["workspace", "create", "acme", "--colour", "red"], /colour/],
    ["a workspace name over 128 chars", ["workspace", "create", "n".repeat(129)], /workspace name/],
    [
      "a root key --name over 128 chars",
      ["root-key", "create", "--workspace", "ws_x", "--name", "n".repeat(129)],
      /--name/,
    ],
    [
      "an --owner-id over 256 chars",
      ["root-key", "create", "--workspace", "ws_x", "--owner-id", "o".repeat(257)],
      /--owner-id/,
    ],
  ])(
    "exits 2 with a message and the usage on stderr, nothing on stdout and no database written, for %s",
    async (_, args, message) => {
      const run = await cli(args, env);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toContain("\n\nUsage: keymint <command>");
      expect(run.stdout).toBe("");
      expect(existsSync(env.KEYMINT_DB ?? ""), "database file created on a usage error").toBe(false);
    },
  );

  it.each<[string, (file: string, other: string) => string[], RegExp]>([
    [
      "an extra argument",
      (file, other) => ["backup", file, other, "--json"],
      /unexpected argument '.*other\.db' for 'backup'/,
    ],
    [
      "--permissions",
      (file) => ["backup", file, "--permissions", "keys:read", "--json"],
      /option '--permissions' does not apply to 'backup'/,
    ],
  ])("exits 2 for backup with %s, writing neither the database nor a backup", async (_, args, message) => {
    const [file, other] = [join(dir, "copy.db"), join(dir, "other.db")];
    const run = await cli(args(file, other), env);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toContain("Usage: keymint <command>");
    expect(run.stdout).toBe("");
    expect([env.KEYMINT_DB, file, other].filter((path) => existsSync(path ?? ""))).toEqual([]);
  });

  it("leaves an existing database unchanged on a usage error", async () => {
    const workspace = oneJsonLine(await cli(["workspace", "create", "acme", "--json"], env)).workspace;
    const before = rowCounts(env.KEYMINT_DB ?? "");
    const runs = await Promise.all([
      cli(["workspace", "create", "Acme", "Corp", "--json"], env),
      cli(["workspace", "create", "beta", "--name", "ci", "--json"], env),
      cli(["root-key", "create", "ci", "--workspace", workspace.id, "--json"], env),
    ]);
    expect(runs.map((run) => run.code)).toEqual([2, 2, 2]);
    expect(rowCounts(env.KEYMINT_DB ?? "")).toEqual(before);
  });

  it("exits 2 for a name or owner holding this deployment's admin or metrics token, as the API refuses one", async () => {
    const [admin, metrics] = ["cli-admin-token-0123456789", "cli-metrics-token-0123456789"];
    const withTokens = { ...env, KEYMINT_ADMIN_TOKEN: admin, KEYMINT_METRICS_TOKEN: metrics };
    const runs = await Promise.all([
      cli(["workspace", "create", `acme ${admin}`, "--json"], withTokens),
      cli(["root-key", "create", "--workspace", "ws_x", "--name", metrics, "--json"], withTokens),
      cli(["root-key", "create", "--workspace", "ws_x", "--owner-id", `o-${admin}`], withTokens),
    ]);
    const fields = ["workspace name", "--name", "--owner-id"];
    for (const [index, run] of runs.entries()) {
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toContain(
        `${fields[index]}: must not hold this deployment's admin or metrics token`,
      );
      expect(run.stdout + run.stderr).not.toContain(admin);
      expect(run.stdout + run.stderr).not.toContain(metrics);
    }
    expect(existsSync(env.KEYMINT_DB ?? ""), "database file created on a usage error").toBe(false);
  });

  it("prints the usage on stdout and exits 0 for --help and -h, where no command exits 2", async () => {
    const [help, short, none] = await Promise.all([cli(["--help"], env), cli(["-h"], env), cli([], env)]);
    for (const run of [help, short]) {
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/^Usage: keymint <command>/);
      expect(run.stderr).toBe("");
    }
    expect(none.code).toBe(2);
    expect(none.stdout).toBe("");
    expect(none.stderr).toContain("Usage: keymint <command>");
  });

  it("backs up into a directory that does not exist yet: directories 0700, the file 0600", async () => {
    const workspace = oneJsonLine(await cli(["workspace", "create", "acme", "--json"], env)).workspace;
    const file = join(dir, "backups", "nested", "keymint.db");
    expect(oneJsonLine(await cli(["backup", file, "--json"], env))).toEqual({
      backup: file,
      pages: expect.any(Number),
    });
    expect(modeOf(join(dir, "backups")), "a directory the backup created").toBe("700");
    expect(modeOf(join(dir, "backups", "nested")), "a directory the backup created").toBe("700");
    expect(modeOf(file), "the backup file").toBe("600");
    expect(rowCounts(file).workspaces).toBe(1);
    const copy = new Database(file, { readonly: true });
    expect(copy.prepare("SELECT id FROM workspaces").all()).toEqual([{ id: workspace.id }]);
    copy.close();
  });

  it("replaces a world-readable file with an owner-only (0600) backup", async () => {
    const file = join(dir, "keymint-backup.db");
    writeFileSync(file, "an older backup");
    chmodSync(file, 0o644);
    expect((await cli(["migrate"], env)).code).toBe(0);
    const run = await cli(["backup", file], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^Backed up .* \(\d+ pages\)\n$/);
    expect(modeOf(file), "the backup file").toBe("600");
    expect(rowCounts(file).workspaces).toBe(0);
  });

  it("refuses a directory as the backup file, naming it, and writes nothing into it", async () => {
    expect((await cli(["migrate"], env)).code).toBe(0);
    const target = join(dir, "backups");
    mkdirSync(target);
    const run = await cli(["backup", target, "--json"], env);
    expect(run).toEqual({
      code: 1,
      stdout: "",
      stderr: `keymint: ${target} is a directory; name the backup file, e.g. ${join(target, "keymint.db")}\n`,
    });
    expect(readdirSync(target)).toEqual([]);
    expect(readdirSync(dir).filter((name) => name.endsWith(".partial"))).toEqual([]);
  });

  it("refuses KEYMINT_DB=:memory:, whose workspaces and root keys would be gone when the command exits", async () => {
    for (const args of [
      ["migrate"],
      ["workspace", "create", "acme", "--json"],
      ["backup", join(dir, "b.db")],
    ]) {
      const run = await cli(args, { KEYMINT_DB: ":memory:" });
      expect(run, args.join(" ")).toEqual({
        code: 1,
        stdout: "",
        stderr:
          "keymint: KEYMINT_DB=:memory: is a database of this command's own, gone when it exits; set KEYMINT_DB to the server's database file\n",
      });
    }
    expect(existsSync(join(dir, "b.db"))).toBe(false);
  });

  it("exits 1 naming the problem for an unknown workspace", async () => {
    const run = await cli(["root-key", "create", "--workspace", "ws_unknown", "--json"], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/Workspace not found/);
    expect(run.stdout).toBe("");
  });

  it("creates owner-bound root keys with --owner-id, refusing keyspaces:write for them as the API does", async () => {
    const workspace = oneJsonLine(await cli(["workspace", "create", "acme", "--json"], env)).workspace;
    const base = ["root-key", "create", "--workspace", workspace.id, "--owner-id", "alice", "--json"];
    const [bound, refused] = await Promise.all([
      cli([...base, "--permissions", "keys:read"], env),
      cli([...base, "--permissions", "keys:read,keyspaces:write"], env),
    ]);
    expect(oneJsonLine(bound)).toMatchObject({ ownerId: "alice", permissions: ["keys:read"] });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("keyspaces:write");
    expect(refused.stdout).toBe("");
  });

  it("stops with a message naming a bad setting", async () => {
    const run = await cli(["migrate"], { ...env, LOG_LEVEL: "loud" });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("LOG_LEVEL");
  });

  it("runs as the package's keymint bin", async () => {
    const run = await new Promise<Run>((resolve) => {
      execFile(
        process.execPath,
        [join(root, "bin/keymint.js"), "workspace", "create", "viabin", "--json"],
        { cwd: root, env: { PATH: process.env.PATH ?? "", ...env }, timeout: 20_000 },
        (error, stdout, stderr) => resolve({ code: error === null ? 0 : 1, stdout, stderr }),
      );
    });
    expect(oneJsonLine(run).workspace.name).toBe("viabin");
  });
});
