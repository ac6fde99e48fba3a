import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SECRET_SCANNER_REGEX } from "../../src/keys/format.js";
import { sha256Hex } from "../../src/keys/hash.js";
import { freePort, sample, waitFor } from "../support/ops.js";
import { type ServerProcess, startServer } from "../support/server-process.js";

/**
 * The server as a process manager runs it: stdout a pipe, without CI (the empty value is no CI), on a
 * port chosen first, since LOG_LEVEL=silent prints no listening line to read it from.
 */
async function startAsOperator(dbFile: string, env: Record<string, string>): Promise<ServerProcess> {
  return startServer({ dbFile, port: await freePort(), env: { CI: "", ...env } });
}

const ADMIN = "server-admin-token-0123456789";
const BOOTSTRAP_KEY = /^ {2}(km_root_[0-9A-Za-z]{50})$/m;
const KEY_ANYWHERE = new RegExp(SECRET_SCANNER_REGEX.source, "g");

/** The server's stdout as JSON log lines (the bootstrap banner is plain text and is skipped). */
function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function api(server: ServerProcess, token: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      "x-request-id": `ops-${method}-${path.replaceAll("/", "_")}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // Only the string fields (id, key) of created resources are read.
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

describe("the server process (npm start) as an operator sees it", () => {
  let dir: string;
  let server: ServerProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "keymint-ops-"));
  });
  afterEach(async () => {
    await server?.kill("SIGTERM");
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it("files its bootstrap under the system actor, logs one JSON line per request on stdout, serves exact metrics, prints no key but the bootstrap one, and stops on SIGTERM", async () => {
    server = await startAsOperator(join(dir, "keymint.db"), {
      LOG_LEVEL: "info",
      KEYMINT_ADMIN_TOKEN: ADMIN,
    });
    const rootKey = BOOTSTRAP_KEY.exec(server.stdout())?.[1];
    if (rootKey === undefined) throw new Error(`no bootstrap key on stdout:\n${server.stdout()}`);
    // The first start's workspace "default" and its * root key are filed under the system actor.
    const audit = await fetch(`${server.url}/v1/audit-events`, {
      headers: { authorization: `Bearer ${rootKey}` },
    });
    expect(audit.status).toBe(200);
    expect(((await audit.json()) as { data: Record<string, unknown>[] }).data).toEqual([
      expect.objectContaining({
        action: "root_key.create",
        actor: { type: "system", id: null },
        details: expect.objectContaining({ permissions: ["*"] }),
      }),
      expect.objectContaining({
        action: "workspace.create",
        actor: { type: "system", id: null },
        details: { name: "default" },
      }),
    ]);

    const keyspace = await api(server, rootKey, "POST", "/v1/keyspaces", { name: "ops", prefix: "ops" });
    expect(keyspace.status).toBe(201);
    const key = await api(server, rootKey, "POST", "/v1/keys", { keyspaceId: keyspace.body.id });
    expect(key.status).toBe(201);
    const verifies = 5;
    for (let i = 0; i < verifies; i++) {
      const response = await fetch(`${server.url}/v1/keys/verify`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${rootKey}`,
          "content-type": "application/json",
          "x-request-id": `external-check-${i}`,
        },
        body: JSON.stringify({ key: key.body.key }),
      });
      expect(response.headers.get("x-request-id")).toBe(`external-check-${i}`);
      expect(((await response.json()) as { code: string }).code).toBe("VALID");
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(sample(metrics, "keymint_verifications_total", { code: "VALID" })).toBe(verifies);
    expect(sample(metrics, "keymint_verify_duration_seconds_count")).toBe(verifies);
    expect(
      sample(metrics, "keymint_http_requests_total", {
        method: "POST",
        route: "/v1/keys/verify",
        status: "200",
      }),
    ).toBe(verifies);

    const current = server;
    await waitFor(
      () => jsonLines(current.stdout()).some((line) => line.requestId === `external-check-${verifies - 1}`),
      "the last verify's log line",
    );
    expect(jsonLines(server.stdout()).find((line) => line.requestId === "external-check-0")).toStrictEqual({
      level: 30,
      time: expect.any(Number),
      requestId: "external-check-0",
      method: "POST",
      route: "/v1/keys/verify",
      status: 200,
      durationMs: expect.any(Number),
    });

    expect((await server.kill("SIGTERM")).code).toBe(0);
    const messages = jsonLines(server.stdout()).map((line) => line.msg);
    expect(messages).toContain("KeyMint listening");
    expect(messages.at(-1)).toBe("stopped");

    // Every key-shaped string in the whole output is the bootstrap root key, printed once on its own line.
    const output = server.stdout() + server.stderr();
    expect(output.match(KEY_ANYWHERE)).toStrictEqual([rootKey]);
    const created = String(key.body.key);
    for (const secret of [created, sha256Hex(created), sha256Hex(rootKey), ADMIN]) {
      expect(output).not.toContain(secret);
    }
    expect(output.toLowerCase()).not.toContain("authorization");
  });

  it("writes no request lines at LOG_LEVEL=warn and nothing but the bootstrap banner at LOG_LEVEL=silent", async () => {
    for (const level of ["warn", "silent"]) {
      const db = join(dir, `${level}.db`);
      server = await startAsOperator(db, { LOG_LEVEL: level });
      for (let i = 0; i < 3; i++) expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      expect((await server.kill("SIGTERM")).code).toBe(0);
      expect(jsonLines(server.stdout()), level).toStrictEqual([]);
      expect(server.stdout()).toMatch(BOOTSTRAP_KEY);
      server = undefined;
    }
  });
});
