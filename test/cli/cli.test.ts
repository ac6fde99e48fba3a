import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
    ["an unknown command", ["frobnicate"], /Usage/],
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
  ])("exits 2 with a message on stderr and nothing on stdout for %s", async (_, args, message) => {
    const run = await cli(args, env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe("");
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
