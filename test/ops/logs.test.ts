import { beforeEach, describe, expect, it } from "vitest";
import { generateKey } from "../../src/keys/format.js";
import { sha256Hex } from "../../src/keys/hash.js";
import { errorAnswers } from "../../src/middleware/errors.js";
import { createLogger, scrubSecrets, wantsPrettyLogs } from "../../src/observability/logger.js";
import { ADMIN_TOKEN, createTestApp, requestLinesWritten, type TestApp } from "../helpers.js";
import { logSink } from "../support/log-sink.js";
import { appWithProductionLogger } from "../support/ops.js";
import { keyWith } from "../support/verify.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const A_KEY = generateKey("dm_live").key;
const A_SHA256 = sha256Hex(A_KEY);
const AN_ARGON2_HASH =
  "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";

/** A logger made by createLogger, writing into an array of lines. */
function capturedLogger(level: string) {
  const sink = logSink();
  return { logger: createLogger({ level, destination: sink.stream }), raw: sink.lines };
}

describe("request logs", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });

  it("writes one JSON line per request with requestId, method, route, status and durationMs", async () => {
    const { app, lines, deps } = appWithProductionLogger(t, "info");
    const created = await keyWith(t);
    await app.request("/v1/keys/verify", {
      method: "POST",
      headers: {
        authorization: `Bearer ${t.rootKey}`,
        "content-type": "application/json",
        "x-request-id": "client-req.42:a_b-c",
      },
      body: JSON.stringify({ key: created.key }),
    });
    await app.request(`/v1/keys/${created.id}`, { headers: { authorization: `Bearer ${t.rootKey}` } });
    await app.request("/healthz");

    requestLinesWritten({ deps });
    const logged = lines();
    expect(logged).toHaveLength(3);
    for (const line of logged) {
      expect(Object.keys(line).sort()).toStrictEqual(
        ["durationMs", "level", "method", "requestId", "route", "status", "time"].sort(),
      );
      expect(line.level).toBe(30);
      expect(line.durationMs).toBeTypeOf("number");
      expect(line.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(
      logged.map(({ requestId, method, route, status }) => ({ requestId, method, route, status })),
    ).toEqual([
      { requestId: "client-req.42:a_b-c", method: "POST", route: "/v1/keys/verify", status: 200 },
      { requestId: expect.stringMatching(UUID), method: "GET", route: "/v1/keys/:id", status: 200 },
      { requestId: expect.stringMatching(UUID), method: "GET", route: "/healthz", status: 200 },
    ]);
  });

  it("logs the request id it returns in x-request-id, generating one for a missing or insane id", async () => {
    const { app, lines, deps } = appWithProductionLogger(t, "info");
    const sent = ["", "has spaces", "x".repeat(129), "ok-id-1"];
    const returned: (string | null)[] = [];
    for (const id of sent) {
      const headers: Record<string, string> = id === "" ? {} : { "x-request-id": id };
      returned.push((await app.request("/healthz", { headers })).headers.get("x-request-id"));
    }
    expect(returned.slice(0, 3).every((id) => id !== null && UUID.test(id))).toBe(true);
    expect(returned[3]).toBe("ok-id-1");
    requestLinesWritten({ deps });
    expect(lines().map((line) => line.requestId)).toStrictEqual(returned);
  });

  it("writes nothing at LOG_LEVEL=silent, not even for a failing request", async () => {
    const { app, raw, deps } = appWithProductionLogger(t, "silent");
    await app.request("/healthz");
    t.db.$client.close();
    const failed = await app.request("/v1/keyspaces", { headers: { authorization: `Bearer ${t.rootKey}` } });
    expect(failed.status).toBe(500);
    requestLinesWritten({ deps });
    expect(raw).toStrictEqual([]);
  });

  it("writes no request lines at LOG_LEVEL=warn, but does log a failing request's error", async () => {
    const { app, lines, deps } = appWithProductionLogger(t, "warn");
    await app.request("/healthz");
    t.db.$client.close();
    const failed = await app.request("/v1/keyspaces", {
      headers: { authorization: `Bearer ${t.rootKey}`, "x-request-id": "failing-1" },
    });
    expect(failed.status).toBe(500);
    requestLinesWritten({ deps });
    expect(lines()).toStrictEqual([
      {
        level: 50,
        time: expect.any(Number),
        requestId: "failing-1",
        err: { type: expect.any(String), message: expect.any(String), stack: expect.any(String) },
        msg: "request failed",
      },
    ]);
  });

  it("never writes a root key, a key, its hash, an authorization header or the admin token", async () => {
    const { app, raw, deps } = appWithProductionLogger(t, "trace");
    const created = await keyWith(t);
    const auth = { authorization: `Bearer ${t.rootKey}`, "content-type": "application/json" };
    const bodies = [
      { key: created.key },
      { key: created.key, scopes: ["x"] },
      { key: `${created.key}x` },
      { key: created.key, cost: -1 },
    ];
    for (const body of bodies) {
      await app.request("/v1/keys/verify", { method: "POST", headers: auth, body: JSON.stringify(body) });
    }
    // A client that sends its key as the request id gets a fresh one: a request id is repeated in
    // headers, problem bodies and audit events, none of which may hold a key.
    const echoed = await app.request("/healthz", { headers: { "x-request-id": created.key } });
    const freshId = echoed.headers.get("x-request-id");
    expect(freshId).not.toBe(created.key);
    await app.request("/v1/admin/workspaces", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "logged" }),
    });
    await app.request("/v1/keys", { headers: { authorization: `Bearer ${created.key}` } });

    requestLinesWritten({ deps });
    expect(raw).toHaveLength(bodies.length + 3);
    const output = raw.join("\n");
    for (const secret of [t.rootKey, created.key, sha256Hex(created.key), ADMIN_TOKEN]) {
      expect(output).not.toContain(secret);
    }
    expect(output.toLowerCase()).not.toContain("authorization");
    expect(output).not.toContain("Bearer");
    expect(raw[bodies.length]).toContain(`"requestId":"${freshId}"`);
  });
});

describe("the production logger", () => {
  it("redacts authorization, key, hash and token fields at any depth, in arrays, errors and cycles", () => {
    const { logger, raw } = capturedLogger("info");
    const shared = { token: "shared-token" };
    const cyclic: Record<string, unknown> = { name: "loop", Token: "cyclic-token" };
    cyclic.self = cyclic;
    const error = Object.assign(new Error("failed"), { token: "error-token", details: { key: "error-key" } });
    logger.info({
      a: { b: { c: { token: "deep-token", authorization: "Basic deep" } } },
      list: [{ key: "listed-key" }, [{ hash: "nested-hash" }]],
      first: shared,
      second: shared,
      cyclic,
      err: error,
      kept: { name: "not a secret", keys: 3 },
    });
    const output = raw[0] ?? "";
    for (const secret of [
      "deep-token",
      "Basic deep",
      "listed-key",
      "nested-hash",
      "shared-token",
      "cyclic-token",
      "error-token",
      "error-key",
    ]) {
      expect(output).not.toContain(secret);
    }
    const line = JSON.parse(output);
    expect(line).toMatchObject({
      a: { b: { c: { token: "[redacted]", authorization: "[redacted]" } } },
      list: [{ key: "[redacted]" }, [{ hash: "[redacted]" }]],
      first: { token: "[redacted]" },
      second: { token: "[redacted]" },
      cyclic: { name: "loop", Token: "[redacted]", self: "[Circular]" },
      err: { message: "failed", token: "[redacted]", details: { key: "[redacted]" } },
      kept: { name: "not a secret", keys: 3 },
    });
    // The object logged is not changed.
    expect(shared.token).toBe("shared-token");
  });

  it("redacts those fields in the errors an error holds: an AggregateError's errors, an own field (a cause shows only in the message)", () => {
    const { logger, raw } = capturedLogger("info");
    const cause = Object.assign(new Error("cause"), { token: "cause-token" });
    const inner = Object.assign(new Error("inner"), { authorization: "Basic inner" });
    const error = Object.assign(new AggregateError([inner], "outer", { cause }), {
      held: Object.assign(new Error("held"), { details: { key: "held-key" } }),
    });
    logger.error({ err: error }, "failed");
    const output = raw[0] ?? "";
    for (const secret of ["cause-token", "Basic inner", "held-key"]) expect(output).not.toContain(secret);
    expect(JSON.parse(output).err).toMatchObject({
      type: "AggregateError",
      // pino folds a cause into the message and stack, not its fields.
      message: "outer: cause",
      aggregateErrors: [{ message: "inner", authorization: "[redacted]" }],
      held: { message: "held", details: { key: "[redacted]" } },
    });
  });

  it("redacts those fields one level into objects it does not walk, and in a child logger's bindings", () => {
    const { logger, raw } = capturedLogger("info");
    class Context {
      token = "instance-token";
      name = "context";
    }
    logger.info({ context: new Context(), error: Object.assign(new Error("e"), { key: "error-key" }) });
    logger.child({ token: "bound-token", requestId: "r1" }).info({ when: new Date(0) }, "child");
    const output = raw.join("\n");
    for (const secret of ["instance-token", "error-key", "bound-token"]) expect(output).not.toContain(secret);
    const [first, second] = raw.map((line) => JSON.parse(line));
    expect(first).toMatchObject({
      context: { token: "[redacted]", name: "context" },
      error: { key: "[redacted]" },
    });
    expect(second).toMatchObject({ token: "[redacted]", requestId: "r1", when: "1970-01-01T00:00:00.000Z" });
  });

  it("redacts authorization, key, hash and token fields at the top level and one level down", () => {
    const { logger, raw } = capturedLogger("info");
    logger.info({
      authorization: "Bearer x",
      headers: { authorization: "Bearer y" },
      key: "k",
      body: { key: "k2", hash: "h", token: "t" },
      hash: "h2",
      token: "t2",
    });
    expect(JSON.parse(raw[0] ?? "")).toMatchObject({
      authorization: "[redacted]",
      headers: { authorization: "[redacted]" },
      key: "[redacted]",
      body: { key: "[redacted]", hash: "[redacted]", token: "[redacted]" },
      hash: "[redacted]",
      token: "[redacted]",
    });
  });

  it("scrubs key material from messages, errors and fields nested anywhere", () => {
    const { logger, raw } = capturedLogger("info");
    logger.info(`verifying ${A_KEY}`);
    logger.error({ err: new Error(`lookup failed for ${A_KEY} (${A_SHA256})`) }, "failed");
    logger.warn({ deep: { deeper: { deepest: [A_KEY, AN_ARGON2_HASH] } } }, "nested");
    logger.info({ requestId: A_KEY });

    expect(raw).toHaveLength(4);
    const output = raw.join("\n");
    expect(output).not.toContain(A_KEY);
    expect(output).not.toContain(A_SHA256);
    expect(output).not.toContain("$argon2id$v=19");
    const parsed = raw.map((line) => JSON.parse(line));
    expect(parsed[0].msg).toBe("verifying [redacted key]");
    expect(parsed[1].err.message).toBe("lookup failed for [redacted key] ([redacted hash])");
    expect(parsed[2].deep.deeper.deepest).toStrictEqual(["[redacted key]", "[redacted hash]"]);
    expect(parsed[3].requestId).toBe("[redacted key]");
  });

  it("logs a 500's error with its type, scrubbed message and stack", () => {
    const { logger, raw } = capturedLogger("info");
    class SqliteError extends Error {
      override name = "SqliteError";
    }
    const answer = errorAnswers({ config: { KEYMINT_ADMIN_TOKEN: ADMIN_TOKEN }, logger } as never);
    expect(answer(new SqliteError(`disk I/O error near ${A_KEY}`), "req-1").status).toBe(500);
    const line = JSON.parse(raw[0] ?? "{}");
    expect(line).toMatchObject({ requestId: "req-1", msg: "request failed" });
    expect(line.err).toMatchObject({ type: "SqliteError", message: "disk I/O error near [redacted key]" });
    expect(line.err.stack).toContain("SqliteError");
  });

  it("respects its level: warn drops info, silent drops everything", () => {
    const warn = capturedLogger("warn");
    warn.logger.info("info line");
    warn.logger.warn("warn line");
    warn.logger.error("error line");
    expect(warn.raw.map((line) => JSON.parse(line).msg)).toStrictEqual(["warn line", "error line"]);

    const silent = capturedLogger("silent");
    silent.logger.fatal("fatal line");
    expect(silent.raw).toStrictEqual([]);
  });
});

describe("scrubSecrets", () => {
  it("replaces a key anywhere in text", () => {
    expect(scrubSecrets(`key=${A_KEY}; next`)).toBe("key=[redacted key]; next");
    expect(scrubSecrets(`"${A_KEY}"`)).toBe('"[redacted key]"');
  });

  it("replaces a key or a digest run into letters, digits or underscores", () => {
    expect(scrubSecrets(`Z${A_KEY}`)).toBe("Z[redacted key]");
    expect(scrubSecrets(`trace_${A_KEY}0`)).toBe("trace_[redacted key]0");
    // A hex run is replaced whole: the digits run into it may be the digest's.
    expect(scrubSecrets(`x${A_SHA256}0`)).toBe("x[redacted hash]");
    expect(scrubSecrets(`x${A_SHA256}g`)).toBe("x[redacted hash]g");
  });

  it("keeps a hex run of one kind of character: filler, not a digest", () => {
    for (const filler of ["a".repeat(128), "0".repeat(64), "F".repeat(70)]) {
      expect(scrubSecrets(`id ${filler}`)).toBe(`id ${filler}`);
    }
    expect(scrubSecrets(`id ${"a".repeat(63)}1`)).toBe("id [redacted hash]");
  });

  it("replaces keys of every prefix shape", () => {
    const body = A_KEY.slice("dm_live_".length);
    for (const prefix of ["a", "dm", "cp_test", "km_root"]) {
      expect(scrubSecrets(`${prefix}_${body}`)).toBe("[redacted key]");
    }
  });

  it("replaces hex SHA-256 digests and argon2 encoded hashes", () => {
    expect(scrubSecrets(`stored ${A_SHA256}`)).toBe("stored [redacted hash]");
    expect(scrubSecrets(`stored ${AN_ARGON2_HASH} end`)).toBe("stored [redacted hash] end");
    // Whatever argon2 variant made it.
    for (const variant of ["argon2i", "argon2d"]) {
      const hash = AN_ARGON2_HASH.replace("$argon2id$", `$${variant}$`);
      expect(scrubSecrets(`stored ${hash} end`), variant).toBe("stored [redacted hash] end");
    }
  });

  it("keeps a serialized JSON line valid JSON", () => {
    const line = JSON.stringify({ msg: `a ${AN_ARGON2_HASH}" quoted`, key: A_KEY });
    expect(JSON.parse(scrubSecrets(line))).toStrictEqual({
      msg: 'a [redacted hash]" quoted',
      key: "[redacted key]",
    });
  });

  it("leaves ordinary text, ids, UUIDs and a key's display hint alone", () => {
    const ordinary = `key_4fJ9kQ2mXa1B dm_live_4fJ9kQ2mXa1B 3f1c2a9e-4b7d-4c1e-9a2b-6f0e8d7c5b4a /v1/keys/:id 200`;
    expect(scrubSecrets(ordinary)).toBe(ordinary);
  });
});

describe("wantsPrettyLogs", () => {
  it("is true only when stdout is a terminal and CI is not set", () => {
    expect(wantsPrettyLogs({ isTTY: true }, {})).toBe(true);
    expect(wantsPrettyLogs({ isTTY: true }, { CI: "" })).toBe(true);
    expect(wantsPrettyLogs({ isTTY: true }, { CI: "false" })).toBe(true);
  });

  it("is false for a pipe, a file or a process manager (no TTY)", () => {
    expect(wantsPrettyLogs({}, {})).toBe(false);
    expect(wantsPrettyLogs({ isTTY: false }, {})).toBe(false);
  });

  it("is false on a terminal under CI", () => {
    expect(wantsPrettyLogs({ isTTY: true }, { CI: "true" })).toBe(false);
    expect(wantsPrettyLogs({ isTTY: true }, { CI: "1" })).toBe(false);
  });
});
