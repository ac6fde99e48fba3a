import { createServer, type IncomingHttpHeaders, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { generateKey } from "../../src/keys/format.js";
import { verifyFastPath } from "../../src/server/verify-fast-path.js";
import {
  createKey,
  createKeyspace,
  createTestApp,
  ManualClock,
  requestLinesWritten,
  type TestApp,
} from "../helpers.js";
import { createRootKey } from "../support/api.js";
import { closeServer, listenOnLoopback, serveOnLoopback } from "../support/loopback-server.js";
import { sample } from "../support/ops.js";
import { deferred, keyWith } from "../support/verify.js";

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

interface RawCall {
  method?: string;
  path?: string;
  /** An array value sends the header once per element. */
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Send the body chunked, without a content-length. */
  chunked?: boolean;
}

/** One request over a real socket, exactly as given (no client-side normalising). */
function send(server: Server, call: RawCall): Promise<RawAnswer> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { ...call.headers };
    if (call.body !== undefined && !call.chunked)
      headers["content-length"] = String(Buffer.byteLength(call.body));
    const outgoing = request(
      {
        host: "127.0.0.1",
        port,
        method: call.method ?? "POST",
        path: call.path ?? "/v1/keys/verify",
        headers,
      },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
        incoming.on("end", () =>
          resolve({
            status: incoming.statusCode ?? 0,
            headers: incoming.headers,
            text: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    outgoing.on("error", reject);
    if (call.chunked && call.body !== undefined) {
      const bytes = Buffer.from(call.body);
      outgoing.write(bytes.subarray(0, 5));
      outgoing.end(bytes.subarray(5));
    } else {
      outgoing.end(call.body);
    }
  });
}

// Whatever differs between two answers for reasons other than the path taken.
const PER_ANSWER_HEADERS = new Set(["date", "x-request-id"]);

/** An answer with its request id taken out (headers and problem bodies), for comparing two answers. */
function comparable(answer: RawAnswer) {
  const headers = Object.fromEntries(
    Object.entries(answer.headers).filter(([name]) => !PER_ANSWER_HEADERS.has(name)),
  );
  let body: unknown = answer.text;
  try {
    const parsed = JSON.parse(answer.text) as Record<string, unknown>;
    if (typeof parsed.requestId === "string") parsed.requestId = "(request id)";
    body = parsed;
  } catch {
    // Not JSON: compared as text.
  }
  return { status: answer.status, headers, body };
}

describe("verify's fast path on node:http", () => {
  let t: TestApp;
  /** The production server: the fast path in front of the app, counting what it hands over. */
  let fast: Server;
  /** The same app without the fast path: the reference every answer is held to. */
  let appOnly: Server;
  let handedOver = 0;
  let key: string;
  const json = { "content-type": "application/json" };
  const auth = (token = t.rootKey) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    t = await createTestApp({ config: { KEYMINT_CORS_ORIGINS: ["https://app.example.com"] } });
    const hono = getRequestListener(t.app.fetch, { hostname: "127.0.0.1" });
    fast = await listenOnLoopback(
      createServer(
        verifyFastPath(t.deps, (incoming, outgoing) => {
          handedOver++;
          return hono(incoming, outgoing);
        }),
      ),
    );
    appOnly = await listenOnLoopback(createServer(hono));
    key = (await keyWith(t, { name: "fast", meta: { plan: "pro" }, scopes: ["read"] })).key;
  });
  afterAll(async () => {
    for (const server of [fast, appOnly]) await closeServer(server);
  });

  /** Sends the same request to both servers; returns both answers and whether the fast path took it. */
  async function both(call: RawCall) {
    const before = handedOver;
    const viaFastPath = await send(fast, call);
    const taken = handedOver === before;
    const viaApp = await send(appOnly, call);
    return { viaFastPath, viaApp, taken };
  }

  /** The fast path answers, and byte for byte as the app does. */
  async function expectAnsweredLikeTheApp(call: RawCall): Promise<RawAnswer> {
    const { viaFastPath, viaApp, taken } = await both(call);
    expect(taken).toBe(true);
    expect(comparable(viaFastPath)).toEqual(comparable(viaApp));
    return viaFastPath;
  }

  /** The fast path hands the request to the app, which answers as it does without the fast path. */
  async function expectHandedToTheApp(call: RawCall): Promise<RawAnswer> {
    const { viaFastPath, viaApp, taken } = await both(call);
    expect(taken).toBe(false);
    expect(comparable(viaFastPath)).toEqual(comparable(viaApp));
    return viaFastPath;
  }

  const verifyCall = (body: unknown, headers: Record<string, string | string[]> = {}): RawCall => ({
    headers: { ...auth(), ...json, ...headers },
    body: JSON.stringify(body),
  });

  describe("answers the everyday verify itself, exactly as the app would", () => {
    it("VALID, with every field, header and the content length the app sends", async () => {
      const answer = await expectAnsweredLikeTheApp(verifyCall({ key }));
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.text)).toMatchObject({ valid: true, code: "VALID", meta: { plan: "pro" } });
      expect(answer.headers["content-type"]).toBe("application/json");
      expect(answer.headers["cache-control"]).toBe("no-store");
      expect(answer.headers["content-security-policy"]).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(answer.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    });

    it("NOT_FOUND for an unknown key and for a string that is no key at all", async () => {
      const unknown = `${key.slice(0, -10)}AAAAAAAAAA`;
      for (const candidate of [unknown, "not-a-key", ""]) {
        const answer = await expectAnsweredLikeTheApp(verifyCall({ key: candidate }));
        expect(JSON.parse(answer.text)).toEqual({ valid: false, code: "NOT_FOUND" });
      }
    });

    it("INSUFFICIENT_SCOPES, cost and scopes given", async () => {
      const answer = await expectAnsweredLikeTheApp(verifyCall({ key, scopes: ["write"], cost: 0 }));
      expect(JSON.parse(answer.text).code).toBe("INSUFFICIENT_SCOPES");
    });

    it("echoes a sane x-request-id and replaces one that is not", async () => {
      const sane = await send(fast, verifyCall({ key }, { "x-request-id": "req-42" }));
      expect(sane.headers["x-request-id"]).toBe("req-42");
      const insane = await send(fast, verifyCall({ key }, { "x-request-id": "no spaces allowed" }));
      expect(insane.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    });

    it("takes a JSON content type with parameters, as the app does", async () => {
      await expectAnsweredLikeTheApp(
        verifyCall({ key }, { "content-type": "application/json; charset=utf-8" }),
      );
    });

    it("writes the request's log line and metrics like any other request", async () => {
      const metricsBefore = await (await t.app.request("/metrics")).text();
      const labels = { method: "POST", route: "/v1/keys/verify", status: "200" };
      const requestsBefore = sample(metricsBefore, "keymint_http_requests_total", labels) ?? 0;
      const validBefore = sample(metricsBefore, "keymint_verifications_total", { code: "VALID" }) ?? 0;
      await expectAnsweredLikeTheApp(verifyCall({ key }, { "x-request-id": "logged-1" }));
      const metrics = await (await t.app.request("/metrics")).text();
      // One from each server: both count in the same registry.
      expect(sample(metrics, "keymint_http_requests_total", labels)).toBe(requestsBefore + 2);
      expect(sample(metrics, "keymint_verifications_total", { code: "VALID" })).toBe(validBefore + 2);
      requestLinesWritten(t);
      const lines = t.logs.map((line) => JSON.parse(line)).filter((line) => line.requestId === "logged-1");
      expect(lines).toHaveLength(2);
      for (const line of lines) {
        expect(line).toMatchObject({ level: 30, method: "POST", route: "/v1/keys/verify", status: 200 });
        expect(typeof line.durationMs).toBe("number");
      }
      expect(t.logs.join("\n")).not.toContain(key);
    });
  });

  describe("keeps the contract's promises about change", () => {
    it("a revoked key is REVOKED on the very next call through the fast path", async () => {
      const created = await keyWith(t);
      expect(JSON.parse((await send(fast, verifyCall({ key: created.key }))).text).code).toBe("VALID");
      const revoke = await send(fast, { path: `/v1/keys/${created.id}/revoke`, headers: auth() });
      expect(revoke.status).toBe(200);
      expect(JSON.parse((await send(fast, verifyCall({ key: created.key }))).text).code).toBe("REVOKED");
    });

    it("a revoked root key is refused on its very next verify (the app answers 401)", async () => {
      const root = await createRootKey(t, ["keys:verify"]);
      const call = { ...verifyCall({ key }), headers: { ...auth(root.key), ...json } };
      expect((await send(fast, call)).status).toBe(200);
      const before = handedOver;
      expect((await send(fast, call)).status).toBe(200);
      expect(handedOver).toBe(before); // cached now: the fast path took it
      expect((await send(fast, { path: `/v1/root-keys/${root.id}/revoke`, headers: auth() })).status).toBe(
        200,
      );
      const refused = await send(fast, call);
      expect(refused.status).toBe(401);
      expect(refused.text).not.toContain(root.key);
    });

    it("spends credits atomically: 40 concurrent verifies of 10 credits give exactly 10 VALID", async () => {
      const created = await keyWith(t, { remaining: 10 });
      const answers = await Promise.all(
        Array.from({ length: 40 }, () => send(fast, verifyCall({ key: created.key }))),
      );
      const codes = answers.map((answer) => JSON.parse(answer.text).code as string);
      expect(codes.filter((code) => code === "VALID")).toHaveLength(10);
      expect(codes.filter((code) => code === "USAGE_EXCEEDED")).toHaveLength(30);
    });

    it("answers a database failure as the app does: 500 problem+json with nothing internal", async () => {
      const broken = await createTestApp();
      const hono = getRequestListener(broken.app.fetch);
      const server = await listenOnLoopback(createServer(verifyFastPath(broken.deps, hono)));
      try {
        const brokenKey = (await keyWith(broken)).key;
        const call = { ...verifyCall({ key: brokenKey }), headers: { ...auth(broken.rootKey), ...json } };
        expect((await send(server, call)).status).toBe(200); // caches the root key, and this key
        broken.deps.keyCache.clear();
        broken.db.$client.exec("DROP TABLE keys");
        const answer = await send(server, call);
        expect(answer.status).toBe(500);
        expect(answer.headers["content-type"]).toBe("application/problem+json");
        expect(JSON.parse(answer.text)).toMatchObject({ code: "INTERNAL", status: 500 });
        expect(answer.text).not.toMatch(/sqlite|keys|select/i);
        expect(answer.headers["x-content-type-options"]).toBe("nosniff");
      } finally {
        await closeServer(server);
      }
    });
  });

  describe("hands everything else to the app, which answers as it always does", () => {
    it("no, malformed or unknown root key: 401", async () => {
      const unknownRoot = generateKey("km_root").key; // well-formed, checksum and all, but never issued
      const variants: Record<string, string>[] = [
        {},
        { authorization: "Basic abc" },
        { authorization: `Bearer ${unknownRoot}` },
      ];
      for (const headers of variants) {
        const answer = await expectHandedToTheApp({
          headers: { ...json, ...headers },
          body: JSON.stringify({ key }),
        });
        expect(answer.status).toBe(401);
      }
    });

    it("a root key without keys:verify: 403", async () => {
      const reader = await createRootKey(t, ["keys:read"]);
      const call = { headers: { ...auth(reader.key), ...json }, body: JSON.stringify({ key }) };
      await send(fast, call); // now cached
      expect((await expectHandedToTheApp(call)).status).toBe(403);
    });

    it("a root key not yet in the cache: the app loads it, and the next call is the fast path's", async () => {
      const fresh = await createRootKey(t, ["keys:verify"]);
      const call = { headers: { ...auth(fresh.key), ...json }, body: JSON.stringify({ key }) };
      const before = handedOver;
      expect((await send(fast, call)).status).toBe(200);
      expect(handedOver).toBe(before + 1);
      expect((await send(fast, call)).status).toBe(200);
      expect(handedOver).toBe(before + 1);
    });

    it.each([
      ["malformed JSON", "{"],
      ["an unknown field", JSON.stringify({ key: "x", extra: 1 })],
      ["a cost out of range", JSON.stringify({ key: "x", cost: 1001 })],
      ["a key that is not a string", JSON.stringify({ key: 42 })],
      ["a __proto__ field", '{"key":"x","__proto__":{"admin":true}}'],
      ["nesting deeper than 32", `{"key":"x","scopes":${"[".repeat(40)}${"]".repeat(40)}}`],
      ["an empty body", ""],
    ])("a body with %s: 400, from the app", async (_what, body) => {
      const answer = await expectHandedToTheApp({ headers: { ...auth(), ...json }, body });
      expect(answer.status).toBe(400);
      expect(answer.headers["content-type"]).toBe("application/problem+json");
    });

    it("invalid UTF-8: 400, from the app", async () => {
      const body = Buffer.concat([Buffer.from('{"key":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
      expect((await expectHandedToTheApp({ headers: { ...auth(), ...json }, body })).status).toBe(400);
    });

    it("a body that is not JSON by its content type: 415", async () => {
      const body = JSON.stringify({ key });
      expect(
        (await expectHandedToTheApp({ headers: { ...auth(), "content-type": "text/plain" }, body })).status,
      ).toBe(415);
      expect((await expectHandedToTheApp({ headers: auth(), body })).status).toBe(415);
    });

    it("a body with a content coding: 415, from the app", async () => {
      const call = verifyCall({ key }, { "content-encoding": "gzip" });
      const answer = await expectHandedToTheApp(call);
      expect([answer.status, answer.headers["accept-encoding"]]).toEqual([415, "identity"]);
    });

    it.each(["application/json;", "application/json ; charset=utf-8", "application/json;charset"])(
      "a JSON content type the app's validator does not take (%s): 415, on every call",
      async (type) => {
        const call = { headers: { ...auth(), "content-type": type }, body: JSON.stringify({ key }) };
        // The root key is cached by now, so the fast path would have had a go at each.
        for (let i = 0; i < 2; i++) expect((await expectHandedToTheApp(call)).status).toBe(415);
      },
    );

    it("a query string: 400 naming the unknown parameter", async () => {
      const answer = await expectHandedToTheApp({ ...verifyCall({ key }), path: "/v1/keys/verify?debug=1" });
      expect(answer.status).toBe(400);
      expect(answer.text).toContain("debug");
    });

    it("a declared length over 64 KiB: 413", async () => {
      const body = JSON.stringify({ key, pad: "x".repeat(70 * 1024) });
      expect((await expectHandedToTheApp({ headers: { ...auth(), ...json }, body })).status).toBe(413);
    });

    it("a chunked body, which the app counts as it reads", async () => {
      const answer = await expectHandedToTheApp({ ...verifyCall({ key }), chunked: true });
      expect(answer.status).toBe(200);
    });

    it("a header sent twice, which node and the app would read differently", async () => {
      const call = verifyCall({ key });
      const answer = await expectHandedToTheApp({
        ...call,
        headers: { ...call.headers, authorization: [`Bearer ${t.rootKey}`, "Bearer km_root_other"] },
      });
      expect(answer.status).toBe(401);
    });

    it("a browser's request from a listed origin, which gets its CORS headers", async () => {
      const answer = await expectHandedToTheApp(verifyCall({ key }, { origin: "https://app.example.com" }));
      expect(answer.headers["access-control-allow-origin"]).toBe("https://app.example.com");
    });

    it("other methods and paths", async () => {
      expect((await expectHandedToTheApp({ method: "GET", headers: auth() })).status).toBe(404);
      expect((await expectHandedToTheApp({ ...verifyCall({ key }), path: "/v1/keys/verify/" })).status).toBe(
        404,
      );
    });
  });

  it("is what the production server runs: the app never sees an everyday verify", async () => {
    const rootKey = await createRootKey(t, ["keys:verify"]);
    // createHttpServer takes app.fetch when it is built: the spy sees every request handed to the app.
    const appFetch = vi.spyOn(t.app, "fetch");
    const { server, close } = await serveOnLoopback(t);
    try {
      const headers = { ...json, authorization: `Bearer ${rootKey.key}` };
      const call = { headers, body: JSON.stringify({ key }) };
      // The first call authenticates the new root key through the app, which caches it.
      expect(JSON.parse((await send(server, call)).text).code).toBe("VALID");
      expect(appFetch).toHaveBeenCalledTimes(1);
      appFetch.mockClear();
      for (let i = 0; i < 3; i++) expect(JSON.parse((await send(server, call)).text).code).toBe("VALID");
      expect(appFetch).not.toHaveBeenCalled();
    } finally {
      appFetch.mockRestore();
      await close();
    }
  });

  it("records the root key's last use for a verify it answers itself, as the app does", async () => {
    const clock = new ManualClock();
    const own = await createTestApp({ clock });
    const { server, close } = await serveOnLoopback(own);
    try {
      const ownKey = (await keyWith(own)).key;
      const verifier = await createRootKey(own, ["keys:verify"]);
      const call = {
        headers: { ...json, authorization: `Bearer ${verifier.key}` },
        body: JSON.stringify({ key: ownKey }),
      };
      expect((await send(server, call)).status).toBe(200); // through the app, which caches the root key
      clock.advance(60_000);
      expect((await send(server, call)).status).toBe(200); // the fast path's
      const listed = (await own.call("GET", "/v1/root-keys")).body.data.find(
        (rootKey: { id: string }) => rootKey.id === verifier.id,
      );
      expect(listed.lastUsedAt).toBe("2026-11-27T04:01:00.000Z");
      await own.deps.usage.flushAll();
      const stored = own.db.$client
        .prepare("SELECT last_used_at AS at FROM root_keys WHERE id = ?")
        .get(verifier.id);
      expect(stored).toEqual({ at: Date.parse("2026-11-27T04:01:00.000Z") });
    } finally {
      await close();
    }
  });

  it("answers a verify refused for the argon2 backlog with the app's Retry-After", async () => {
    const busy = await createTestApp({ config: { KEYMINT_ARGON2_MAX_WAIT_MS: 0 } });
    const keyspace = await createKeyspace(busy, { hashAlgorithm: "argon2id" });
    const cold = await createKey(busy, { keyspaceId: keyspace.id });
    busy.deps.keyCache.clear(); // its verify needs an argon2id hash
    const { server, close } = await serveOnLoopback(busy);
    const held = deferred();
    const turns = Array.from({ length: busy.deps.config.KEYMINT_ARGON2_CONCURRENCY }, () =>
      busy.deps.argon2.run(() => held.promise),
    );
    try {
      const call = {
        headers: { ...json, authorization: `Bearer ${busy.rootKey}` }, // cached: the fast path's
        body: JSON.stringify({ key: cold.key }),
      };
      const viaServer = await send(server, call);
      const viaApp = await busy.call("POST", "/v1/keys/verify", { body: { key: cold.key } });
      expect(viaServer.status).toBe(503);
      expect(viaServer.headers["content-type"]).toBe("application/problem+json");
      expect(viaServer.headers["retry-after"]).toMatch(/^[1-9][0-9]*$/);
      expect(viaServer.headers["retry-after"]).toBe(viaApp.headers.get("retry-after"));
    } finally {
      held.resolve();
      await Promise.all(turns);
      await close();
    }
  });
});
