import { beforeEach, describe, expect, it } from "vitest";
import { createKeyspace, createTestApp, requestLinesWritten, type TestApp } from "../helpers.js";
import { expectProblem } from "../support/api.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const json = { "content-type": "application/json" };

describe("errors are problem+json (§6)", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });

  it("answers 400 BAD_REQUEST for malformed JSON", async () => {
    const response = await t.call("POST", "/v1/keyspaces", { raw: '{"name": "x",', headers: json });
    expectProblem(response, 400, "BAD_REQUEST");
    expect(response.body.errors).toBeUndefined();
  });

  it("answers 400 BAD_REQUEST for an empty JSON body on a route that needs one", async () => {
    expectProblem(await t.call("POST", "/v1/keyspaces", { raw: "", headers: json }), 400, "BAD_REQUEST");
  });

  it("answers 400 VALIDATION_FAILED for JSON that is not an object", async () => {
    for (const raw of ["[1, 2]", '"text"', "null", "42"]) {
      const response = await t.call("POST", "/v1/keyspaces", { raw, headers: json });
      expectProblem(response, 400, "VALIDATION_FAILED");
    }
  });

  it("accepts application/json with a charset", async () => {
    const response = await t.call("POST", "/v1/keyspaces", {
      body: { name: "x", prefix: "charset" },
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    expect(response.status).toBe(201);
  });

  it.each([
    ["text/plain", { "content-type": "text/plain" }],
    ["a form", { "content-type": "application/x-www-form-urlencoded" }],
    ["no content type", {}],
  ])("answers 415 UNSUPPORTED_MEDIA_TYPE for a body sent as %s", async (_, headers) => {
    const response = await t.call("POST", "/v1/keyspaces", { raw: '{"name":"x","prefix":"abc"}', headers });
    expectProblem(response, 415, "UNSUPPORTED_MEDIA_TYPE");
    expect((await t.call("GET", "/v1/keyspaces")).body.data).toEqual([]);
  });

  it("answers 415 for a non-JSON body on a route whose body is optional", async () => {
    const response = await t.call("POST", "/v1/keys/key_x/revoke", {
      raw: "reason=leaked",
      headers: { "content-type": "text/plain" },
    });
    expectProblem(response, 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  it("answers 413 PAYLOAD_TOO_LARGE for a body over 64 KiB", async () => {
    const raw = JSON.stringify({ name: "x", prefix: "big", pad: "x".repeat(64 * 1024) });
    const response = await t.call("POST", "/v1/keyspaces", { raw, headers: json });
    expectProblem(response, 413, "PAYLOAD_TOO_LARGE");
  });

  // Contract §3: the body is read and discarded, so that the client gets the answer.
  it("reads a declared-length body over 64 KiB to its end before answering 413", async () => {
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    const CHUNKS = 8;
    let pulled = 0;
    let closed = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled < CHUNKS) {
          pulled++;
          controller.enqueue(chunk);
        } else {
          closed = true;
          controller.close();
        }
      },
    });
    const response = await t.app.request("/v1/keyspaces", {
      method: "POST",
      headers: {
        authorization: `Bearer ${t.rootKey}`,
        "content-type": "application/json",
        "content-length": String(CHUNKS * chunk.byteLength),
      },
      body,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(pulled).toBe(CHUNKS);
    expect(closed).toBe(true);
  });

  it("answers 413 for a body over 64 KiB sent without a content-length (chunked)", async () => {
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const response = await t.app.request("/v1/keyspaces", {
      method: "POST",
      headers: { ...json, authorization: `Bearer ${t.rootKey}` },
      body,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(((await response.json()) as { code: string }).code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("accepts a chunked body under 64 KiB", async () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ name: "chunked", prefix: "chunked" }));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 10));
        controller.enqueue(bytes.slice(10));
        controller.close();
      },
    });
    const response = await t.app.request("/v1/keyspaces", {
      method: "POST",
      headers: { ...json, authorization: `Bearer ${t.rootKey}` },
      body,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(201);
  });

  it("accepts a body of exactly 64 KiB and refuses one byte more", async () => {
    const body = JSON.stringify({ name: "x", prefix: "exact" });
    // Whitespace after the value is still valid JSON.
    const exact = `${body}${" ".repeat(64 * 1024 - body.length)}`;
    expectProblem(
      await t.call("POST", "/v1/keyspaces", { raw: `${exact} `, headers: json }),
      413,
      "PAYLOAD_TOO_LARGE",
    );
    expect((await t.call("POST", "/v1/keyspaces", { raw: exact, headers: json })).status).toBe(201);
    // The same length declared in a content-length, which the limit reads before the body.
    const declared = JSON.stringify({ name: "y", prefix: "exactcl2" });
    const padded = `${declared}${" ".repeat(64 * 1024 - declared.length)}`;
    const response = await t.app.request("/v1/keyspaces", {
      method: "POST",
      headers: { ...json, authorization: `Bearer ${t.rootKey}`, "content-length": String(padded.length) },
      body: padded,
    });
    expect(response.status).toBe(201);
  });

  it.each([
    ["GET", "/nowhere"],
    ["GET", "/v1/nowhere"],
    ["PUT", "/v1/keys"],
    ["DELETE", "/v1/keyspaces"],
    ["GET", "/v1/keys/key_x/unknown"],
  ])("answers 404 NOT_FOUND for the unknown route %s %s", async (method, path) => {
    const response = await t.call(method, path);
    expectProblem(response, 404, "NOT_FOUND");
  });

  it("answers 500 INTERNAL without a stack, SQL or key when the database fails, and /readyz 503", async () => {
    await createKeyspace(t);
    t.db.$client.close();
    const response = await t.call("GET", "/v1/keys");
    expectProblem(response, 500, "INTERNAL");
    expect(response.body.detail).toBe("An unexpected error occurred.");
    expect(response.text).not.toMatch(/ at |\.ts|select|from|sqlite|km_root_/i);
    const ready = await t.call("GET", "/readyz");
    expectProblem(ready, 503, "UNAVAILABLE");
    requestLinesWritten(t);
    for (const line of t.logs) expect(line).not.toContain(t.rootKey);
  });
});

describe("x-request-id", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });

  it.each(["abc-123", "a.b:c_d-E", "x".repeat(128), "0"])("echoes the client's sane id %s", async (id) => {
    const response = await t.call("GET", "/v1/keys", { headers: { "x-request-id": id } });
    expect(response.headers.get("x-request-id")).toBe(id);
  });

  it.each([
    ["over 128 chars", "x".repeat(129)],
    ["with a space", "a b"],
    ["with a slash", "a/b"],
    ["with a newline escape", "a%0Ab"],
    ["with non-ASCII", "añb"],
    ["empty", ""],
  ])("replaces an id %s with a generated one", async (_, id) => {
    const response = await t.call("GET", "/v1/keys", { headers: { "x-request-id": id } });
    expect(response.headers.get("x-request-id")).toMatch(UUID);
  });

  it("generates an id when none is sent, a new one per request", async () => {
    const first = (await t.call("GET", "/v1/keys")).headers.get("x-request-id");
    const second = (await t.call("GET", "/v1/keys")).headers.get("x-request-id");
    expect(first).toMatch(UUID);
    expect(second).toMatch(UUID);
    expect(first).not.toBe(second);
  });

  it("is on every response, errors included, and matches the problem's requestId", async () => {
    const responses = [
      await t.call("GET", "/healthz"),
      await t.call("GET", "/openapi.json"),
      await t.call("GET", "/v1/keys", { token: null }),
      await t.call("GET", "/v1/nowhere"),
      await t.call("POST", "/v1/keyspaces", { raw: "{", headers: json }),
      await t.call("POST", "/v1/keyspaces", { raw: "x".repeat(70_000), headers: json }),
    ];
    for (const response of responses) {
      const id = response.headers.get("x-request-id");
      expect(id).toMatch(UUID);
      if (response.status >= 400) expect(response.body.requestId).toBe(id);
    }
    const sent = await t.call("GET", "/v1/keys", { token: null, headers: { "x-request-id": "client-1" } });
    expect(sent.body.requestId).toBe("client-1");
  });
});

describe("secure headers", () => {
  it("are on every API response, success and error alike", async () => {
    const t = await createTestApp();
    const responses = [
      await t.call("GET", "/v1/keyspaces"),
      await t.call("POST", "/v1/keyspaces", { body: { name: "x", prefix: "headers" } }),
      await t.call("GET", "/v1/keys", { token: null }),
      await t.call("GET", "/v1/nowhere"),
      await t.call("POST", "/v1/keyspaces", { raw: "x".repeat(70_000), headers: json }),
      await t.call("GET", "/healthz"),
      await t.call("GET", "/openapi.json"),
    ];
    for (const response of responses) {
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("x-frame-options")).toBe("DENY");
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
      expect(response.headers.get("content-security-policy")).toBe(
        "default-src 'none'; frame-ancestors 'none'",
      );
      expect(response.headers.get("x-powered-by")).toBeNull();
    }
  });

  it("gives /docs a CSP that runs its own scripts only, and still refuses framing", async () => {
    const t = await createTestApp();
    const response = await t.call("GET", "/docs");
    expect(response.status).toBe(200);
    const csp = response.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-eval");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
  });

  it("serves every script and style of /docs with its JavaScript or CSS type, as nosniff makes browsers require", async () => {
    const t = await createTestApp();
    const page = await t.call("GET", "/docs", { token: null });
    expect(page.status).toBe(200);
    const assets = [...page.text.matchAll(/(?:src|href)="(\/docs\/[^"]+)"/g)].map(
      (match) => match[1] as string,
    );
    expect(assets).toEqual([
      "/docs/assets/swagger-ui.css",
      "/docs/assets/swagger-ui-bundle.js",
      "/docs/assets/init.js",
    ]);
    for (const path of assets) {
      const response = await t.call("GET", path, { token: null });
      expect(response.status, path).toBe(200);
      expect(response.headers.get("x-content-type-options"), path).toBe("nosniff");
      const type = path.endsWith(".css") ? "text/css" : "text/javascript";
      expect(response.headers.get("content-type"), path).toMatch(new RegExp(`^${type}(;|$)`));
    }
  });
});

describe("CORS", () => {
  const APP = "https://app.example.com";
  const preflight = (origin: string) => ({
    token: null,
    headers: {
      origin,
      "access-control-request-method": "PATCH",
      "access-control-request-headers": "authorization, content-type",
    },
  });

  it("sends no CORS headers by default, whatever the origin", async () => {
    const t = await createTestApp();
    const responses = [
      await t.call("GET", "/v1/keys", { headers: { origin: APP } }),
      await t.call("OPTIONS", "/v1/keys", preflight(APP)),
    ];
    for (const response of responses) {
      const cors = [...response.headers.keys()].filter((name) => name.startsWith("access-control-"));
      expect(cors).toEqual([]);
    }
  });

  describe("with KEYMINT_CORS_ORIGINS set", () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await createTestApp({ config: { KEYMINT_CORS_ORIGINS: [APP, "http://localhost:5173"] } });
    });

    it("allows a listed origin and exposes x-request-id, retry-after and www-authenticate", async () => {
      const response = await t.call("GET", "/v1/keys", { headers: { origin: APP } });
      expect(response.status).toBe(200);
      expect(response.headers.get("access-control-allow-origin")).toBe(APP);
      expect(response.headers.get("access-control-expose-headers")).toContain("x-request-id");
      // A browser must read a 429's or 503's Retry-After, and a 401's WWW-Authenticate.
      const exposed = (response.headers.get("access-control-expose-headers") ?? "")
        .toLowerCase()
        .split(/\s*,\s*/);
      expect(exposed).toEqual(expect.arrayContaining(["x-request-id", "retry-after", "www-authenticate"]));
      expect(response.headers.get("vary")).toContain("Origin");
    });

    it("answers a listed origin's preflight without credentials", async () => {
      const response = await t.call("OPTIONS", "/v1/keys/key_x", preflight("http://localhost:5173"));
      expect(response.status).toBe(204);
      expect(response.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
      expect(response.headers.get("access-control-allow-methods")).toContain("PATCH");
      expect(response.headers.get("access-control-allow-methods")).toContain("DELETE");
      expect(response.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
      expect(response.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("content-type");
      expect(response.headers.get("x-request-id")).toMatch(UUID);
      // A preflight may be cached, so that a dashboard does not send one before every call.
      expect(Number(response.headers.get("access-control-max-age"))).toBeGreaterThan(0);
    });

    it("lets a listed origin read error responses too", async () => {
      const response = await t.call("GET", "/v1/keys", { token: null, headers: { origin: APP } });
      expectProblem(response, 401, "UNAUTHORIZED");
      expect(response.headers.get("access-control-allow-origin")).toBe(APP);
    });

    it("does not allow an origin that is not listed, nor a look-alike", async () => {
      for (const origin of [
        "https://evil.example.com",
        "https://app.example.com.evil.com",
        "http://app.example.com",
      ]) {
        const get = await t.call("GET", "/v1/keys", { headers: { origin } });
        expect(get.headers.get("access-control-allow-origin")).toBeNull();
        const options = await t.call("OPTIONS", "/v1/keys", preflight(origin));
        expect(options.headers.get("access-control-allow-origin")).toBeNull();
      }
    });
  });
});
