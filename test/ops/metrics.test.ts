import { beforeEach, describe, expect, it } from "vitest";
import { generateKey } from "../../src/keys/format.js";
import { createKeyspace, createTestApp, ManualClock, type TestApp, verify } from "../helpers.js";
import { sample } from "../support/ops.js";
import { keyWith, verifyConcurrently } from "../support/verify.js";

const METRICS_TOKEN = "metrics-token-0123456789abcdef";

async function scrape(t: TestApp, headers: Record<string, string> = {}) {
  const response = await t.app.request("/metrics", { headers });
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    text: await response.text(),
  };
}

describe("GET /metrics", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp({ clock: new ManualClock() });
  });

  describe("after a known sequence of verifies", () => {
    let text: string;
    let validKey: { key: string; id: string };
    beforeEach(async () => {
      validKey = await keyWith(t);
      const revoked = await keyWith(t);
      expect((await t.call("POST", `/v1/keys/${revoked.id}/revoke`)).status).toBe(200);
      const unknown = generateKey("nope").key;

      for (let i = 0; i < 3; i++) expect((await verify(t, { key: validKey.key })).code).toBe("VALID");
      for (let i = 0; i < 2; i++) expect((await verify(t, { key: revoked.key })).code).toBe("REVOKED");
      for (let i = 0; i < 2; i++) expect((await verify(t, { key: unknown })).code).toBe("NOT_FOUND");
      expect((await verify(t, { key: "not-a-key" })).code).toBe("NOT_FOUND");
      expect((await t.call("GET", `/v1/keys/${validKey.id}`)).status).toBe(200);
      expect((await t.call("GET", "/v1/keys/key_000000000000")).status).toBe(404);

      const scraped = await scrape(t);
      expect(scraped.status).toBe(200);
      expect(scraped.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
      text = scraped.text;
    });

    it("counts every verification under its code, with zero for the codes not seen", () => {
      const counts = Object.fromEntries(
        ["VALID", "NOT_FOUND", "REVOKED", "DISABLED", "EXPIRED", "INSUFFICIENT_SCOPES", "RATE_LIMITED"]
          .concat("USAGE_EXCEEDED")
          .map((code) => [code, sample(text, "keymint_verifications_total", { code })]),
      );
      expect(counts).toStrictEqual({
        VALID: 3,
        NOT_FOUND: 3,
        REVOKED: 2,
        DISABLED: 0,
        EXPIRED: 0,
        INSUFFICIENT_SCOPES: 0,
        RATE_LIMITED: 0,
        USAGE_EXCEEDED: 0,
      });
    });

    it("observes every verification in the duration histogram", () => {
      expect(sample(text, "keymint_verify_duration_seconds_count")).toBe(8);
      expect(sample(text, "keymint_verify_duration_seconds_bucket", { le: "+Inf" })).toBe(8);
      expect(sample(text, "keymint_verify_duration_seconds_sum")).toBeGreaterThan(0);
    });

    it("reports cache hits, misses and entries (a malformed key never reaches the cache)", () => {
      // Each of the three well-formed keys misses once, then hits (the unknown one from the negative cache).
      expect(sample(text, "keymint_verify_cache_misses_total")).toBe(3);
      expect(sample(text, "keymint_verify_cache_hits_total")).toBe(4);
      expect(sample(text, "keymint_verify_cache_entries")).toBe(2);
    });

    it("counts HTTP requests by route template, method and status", () => {
      const requests = (method: string, route: string, status: string) =>
        sample(text, "keymint_http_requests_total", { method, route, status });
      expect(requests("POST", "/v1/keys/verify", "200")).toBe(8);
      expect(requests("GET", "/v1/keys/:id", "200")).toBe(1);
      expect(requests("GET", "/v1/keys/:id", "404")).toBe(1);
      expect(requests("POST", "/v1/keys/:id/revoke", "200")).toBe(1);
      expect(requests("POST", "/v1/keys", "201")).toBe(2);
      expect(
        sample(text, "keymint_http_request_duration_seconds_count", {
          method: "POST",
          route: "/v1/keys/verify",
          status: "200",
        }),
      ).toBe(8);
    });

    it("never uses a raw path or a key id as a label value", () => {
      expect(text).not.toContain(validKey.id);
      expect(text).not.toContain("key_000000000000");
      expect(text).not.toContain(validKey.key);
    });

    it("includes the default process and Node.js metrics", () => {
      for (const name of [
        "process_cpu_user_seconds_total",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "nodejs_heap_size_used_bytes",
        "nodejs_eventloop_lag_seconds",
      ]) {
        expect(sample(text, name), name).toBeTypeOf("number");
      }
    });
  });

  it("labels requests to paths that match no route with a bounded template, never the path", async () => {
    for (const path of ["/nope/1", "/nope/2", "/v1/keys/a/b/c"]) {
      expect((await t.call("GET", path)).status).toBe(404);
    }
    const { text } = await scrape(t);
    const notFound = [...text.matchAll(/^keymint_http_requests_total\{(.*status="404".*)\} (\d+)$/gm)];
    expect(notFound.map(([, labels]) => /route="([^"]*)"/.exec(labels ?? "")?.[1]).sort()).toStrictEqual([
      "unmatched",
    ]);
    expect(notFound.reduce((sum, [, , count]) => sum + Number(count), 0)).toBe(3);
    expect(text).not.toContain("/nope/");
    expect(text).not.toContain("/v1/keys/a/b/c");
  });

  it("counts a request refused before its route ran under that route's template, not its path", async () => {
    expect((await t.call("GET", "/v1/keys/key_abcdefabcdef", { token: null })).status).toBe(401);
    expect((await t.call("GET", "/v1/keys?bogus=1")).status).toBe(400);
    const { text } = await scrape(t);
    expect(text).not.toContain("key_abcdefabcdef");
    const requests = (route: string, status: string) =>
      sample(text, "keymint_http_requests_total", { method: "GET", route, status });
    expect(requests("/v1/keys/:id", "401")).toBe(1);
    expect(requests("/v1/keys", "400")).toBe(1);
  });

  describe("with KEYMINT_METRICS_TOKEN set", () => {
    let secured: TestApp;
    beforeEach(async () => {
      secured = await createTestApp({ config: { KEYMINT_METRICS_TOKEN: METRICS_TOKEN } });
    });

    it("returns 401 UNAUTHORIZED without a token", async () => {
      const response = await secured.call("GET", "/metrics", { token: null });
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      expect(response.body.code).toBe("UNAUTHORIZED");
    });

    it("returns 401 UNAUTHORIZED with a wrong token, a root key or the token without Bearer", async () => {
      for (const authorization of [
        "Bearer metrics-token-0123456789abcdeX",
        `Bearer ${secured.rootKey}`,
        METRICS_TOKEN,
      ]) {
        const response = await secured.call("GET", "/metrics", { token: null, headers: { authorization } });
        expect(response.status, authorization).toBe(401);
        expect(response.body.code).toBe("UNAUTHORIZED");
        expect(response.text).not.toContain(METRICS_TOKEN);
      }
    });

    it("asks for a Bearer token on a 401, and throttles a client guessing it (429) as for the admin token", async () => {
      const wrong = { authorization: "Bearer metrics-token-0123456789abcdeX" };
      const first = await secured.call("GET", "/metrics", { token: null, headers: wrong });
      expect(first.status).toBe(401);
      expect(first.headers.get("www-authenticate")).toBe('Bearer realm="keymint"');
      let last = first;
      for (let attempt = 2; attempt <= 31; attempt++) {
        last = await secured.call("GET", "/metrics", { token: null, headers: wrong });
      }
      expect(last.status).toBe(429);
      expect(last.body.code).toBe("RATE_LIMITED");
      expect(Number(last.headers.get("retry-after"))).toBeGreaterThan(0);
    });

    it("returns 200 with the metrics for Bearer <token>", async () => {
      const response = await scrape(secured, { authorization: `Bearer ${METRICS_TOKEN}` });
      expect(response.status).toBe(200);
      expect(sample(response.text, "keymint_verify_cache_entries")).toBe(0);
    });
  });

  it("counts the argon2id computations begun and reports none waiting once they are done", async () => {
    const before = await scrape(t);
    expect(sample(before.text, "keymint_argon2_computations_total")).toBe(0);
    expect(sample(before.text, "keymint_argon2_waiting")).toBe(0);
    const keyspace = await createKeyspace(t, { hashAlgorithm: "argon2id" });
    const first = await keyWith(t, {}, keyspace); // hashed: 1
    const second = await keyWith(t, {}, keyspace); // hashed: 2
    for (let i = 0; i < 2; i++) expect((await verify(t, { key: first.key })).code).toBe("VALID"); // a miss, then a hit: 3
    // Five first verifies at once share one check of the hash: 4
    expect((await verifyConcurrently(t, 5, { key: second.key })).byCode).toEqual({ VALID: 5 });
    const after = await scrape(t);
    expect(sample(after.text, "keymint_argon2_computations_total")).toBe(4);
    expect(sample(after.text, "keymint_argon2_waiting")).toBe(0);
  });

  it("is open when KEYMINT_METRICS_TOKEN is unset", async () => {
    expect((await scrape(t)).status).toBe(200);
  });
});
