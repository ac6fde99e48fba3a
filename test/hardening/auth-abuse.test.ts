import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FailureThrottle, throttleKey } from "../../src/auth/failure-throttle.js";
import { checksumOf } from "../../src/keys/format.js";
import { secretEquals, sha256Equals, sha256Hex } from "../../src/keys/hash.js";
import {
  ADMIN_TOKEN,
  createKey,
  createKeyspace,
  createTestApp,
  ManualClock,
  type TestApp,
} from "../helpers.js";
import { expectProblem } from "../support/api.js";
import { callServer, startServer, stopAllServers, tempDatabase } from "../support/server-process.js";

/*
 * Nobody gets in: a wrong root key is always 401 (contract §2; 190 random bits need no throttle), a
 * wrong admin or metrics token is throttled per client past 30 failures a minute (429 with
 * Retry-After), valid callers are never counted nor refused, the throttle's memory is bounded, and
 * a near-miss key takes exactly the path of any wrong key.
 */

const THRESHOLD = 30;

/** The key with its last character changed: the checksum no longer matches. */
function lastCharChanged(key: string): string {
  return `${key.slice(0, -1)}${key.endsWith("a") ? "b" : "a"}`;
}

/** The key with another secret and a valid checksum: same keyId, found by id, refused by the hash. */
function secretChanged(key: string, secretLength = 32): string {
  const head = key.slice(0, key.length - 6 - secretLength);
  const body = `${head}${"Z".repeat(secretLength)}`;
  return `${body}${checksumOf(body)}`;
}

describe("FailureThrottle", () => {
  it("lets 30 failures a minute through as 401 and answers the 31st with the seconds left in the window", () => {
    const throttle = new FailureThrottle();
    const start = Date.parse("2026-11-27T04:00:00.000Z");
    for (let i = 0; i < THRESHOLD; i++)
      expect(throttle.recordFailure("198.51.100.1", start + i * 100)).toBeNull();
    expect(throttle.recordFailure("198.51.100.1", start + 15_000)).toBe(45);
    expect(throttle.recordFailure("198.51.100.1", start + 59_001)).toBe(1);
  });

  it("starts a fresh window one minute after the first failure", () => {
    const throttle = new FailureThrottle();
    for (let i = 0; i <= THRESHOLD; i++) throttle.recordFailure("198.51.100.1", 0);
    expect(throttle.recordFailure("198.51.100.1", 59_999)).toBe(1);
    expect(throttle.recordFailure("198.51.100.1", 60_000)).toBeNull();
  });

  it("counts each client on its own", () => {
    const throttle = new FailureThrottle();
    for (let i = 0; i <= THRESHOLD; i++) throttle.recordFailure("198.51.100.1", 0);
    expect(throttle.recordFailure("198.51.100.1", 0)).not.toBeNull();
    expect(throttle.recordFailure("198.51.100.2", 0)).toBeNull();
  });

  it("keeps at most maxTrackedClients clients in memory, however many fail", () => {
    const throttle = new FailureThrottle(THRESHOLD, 60_000, 1_000);
    for (let i = 0; i < 50_000; i++) throttle.recordFailure(`client-${i}`, 0);
    expect(throttle.trackedClients).toBe(1_000);
  });

  it("throttles an IPv6 /64 as one client and an IPv4-mapped address as the IPv4 address", () => {
    expect(throttleKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(throttleKey("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(throttleKey("2001:db8:1:3::1")).toBe("2001:db8:1:3::/64");
    expect(throttleKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(throttleKey("1::2:3:4:5:1.2.3.4")).toBe("1:0:2:3::/64");
    expect(throttleKey("::1")).toBe("0:0:0:0::/64");
    expect(throttleKey("::ffff:203.0.113.9")).toBe("203.0.113.9");
    expect(throttleKey("203.0.113.9")).toBe("203.0.113.9");
    expect(throttleKey(null)).toBe("unknown");
    expect(throttleKey("x".repeat(10_000))).toHaveLength(64);
  });
});

describe("failed authentication over HTTP, client address from x-forwarded-for", () => {
  let t: TestApp;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock, config: { KEYMINT_TRUST_PROXY: true } });
  });

  const from = (ip: string) => ({ "x-forwarded-for": ip });
  const wrongRootKey = () => secretChanged(t.rootKey);
  const WRONG_ADMIN_TOKEN = "wrong-admin-token-000000";
  const adminCall = (ip: string, token = WRONG_ADMIN_TOKEN) =>
    t.call("POST", "/v1/admin/workspaces", { body: { name: "x" }, token, headers: from(ip) });
  const failAdmin = async (ip: string, times: number) => {
    for (let i = 0; i < times; i++) expectProblem(await adminCall(ip), 401, "UNAUTHORIZED");
  };

  it("answers 401 to every failed root key, however many, as contract §2 says, without counting it against the address", async () => {
    for (let i = 0; i < 3 * THRESHOLD; i++) {
      const wrong = i % 3 === 0 ? { token: wrongRootKey() } : i % 3 === 1 ? { token: null } : { token: "x" };
      expectProblem(
        await t.call("GET", "/v1/keys", { ...wrong, headers: from("203.0.113.7") }),
        401,
        "UNAUTHORIZED",
      );
    }
    // None of those failures counted towards the admin token's throttle.
    await failAdmin("203.0.113.7", THRESHOLD);
    expectProblem(await adminCall("203.0.113.7"), 429, "RATE_LIMITED");
  });

  it("answers 401 for 30 failed admin tokens, then 429 problem+json with Retry-After for the rest of the window", async () => {
    await failAdmin("203.0.113.7", THRESHOLD);
    clock.advance(20_000);
    const throttled = await adminCall("203.0.113.7");
    expectProblem(throttled, 429, "RATE_LIMITED");
    expect(throttled.headers.get("retry-after")).toBe("40");
    // A throttled address still gets 401, not 429, for a wrong root key.
    expectProblem(
      await t.call("GET", "/v1/keys", { token: wrongRootKey(), headers: from("203.0.113.7") }),
      401,
      "UNAUTHORIZED",
    );
  });

  it("never counts nor refuses a valid caller, even from a throttled address", async () => {
    const keyspace = await createKeyspace(t);
    const key = await createKey(t, { keyspaceId: keyspace.id });
    for (let i = 0; i < THRESHOLD; i++) {
      // Valid calls in between spend none of the budget.
      expect((await adminCall("203.0.113.7", ADMIN_TOKEN)).status).toBe(201);
      await adminCall("203.0.113.7");
    }
    expectProblem(await adminCall("203.0.113.7"), 429, "RATE_LIMITED");
    const verified = await t.call("POST", "/v1/keys/verify", {
      body: { key: key.key },
      headers: from("203.0.113.7"),
    });
    expect(verified.status).toBe(200);
    expect(verified.body.code).toBe("VALID");
    expect((await adminCall("203.0.113.7", ADMIN_TOKEN)).status).toBe(201);
  });

  it("throttles only the failing address, and only for the rest of its window", async () => {
    await failAdmin("203.0.113.7", THRESHOLD);
    expectProblem(await adminCall("203.0.113.7"), 429, "RATE_LIMITED");
    expectProblem(await adminCall("203.0.113.8"), 401, "UNAUTHORIZED");
    clock.advance(60_000);
    expectProblem(await adminCall("203.0.113.7"), 401, "UNAUTHORIZED");
  });

  it("counts a whole IPv6 /64 as one client", async () => {
    for (let i = 0; i < THRESHOLD; i++) await adminCall(`2001:db8:7:7::${i.toString(16)}`);
    expectProblem(await adminCall("2001:db8:7:7:ffff::1"), 429, "RATE_LIMITED");
    expectProblem(await adminCall("2001:db8:7:8::1"), 401, "UNAUTHORIZED");
  });

  it("counts missing and malformed Authorization headers on the admin routes as failures too", async () => {
    for (let i = 0; i < THRESHOLD; i++) {
      await t.call("POST", "/v1/admin/workspaces", {
        body: { name: "x" },
        token: null,
        headers: { ...from("203.0.113.9"), ...(i % 2 ? { authorization: "Basic abc" } : {}) },
      });
    }
    expectProblem(await adminCall("203.0.113.9"), 429, "RATE_LIMITED");
  });
});

describe("failed authentication against the real server (client address from the socket)", () => {
  let database: ReturnType<typeof tempDatabase> | undefined;
  afterEach(async () => {
    await stopAllServers();
    database?.remove();
  });

  it("answers every wrong root key from 127.0.0.1 with 401, the 31st wrong admin token with 429 and Retry-After, and still serves both valid credentials", async () => {
    database = tempDatabase();
    const server = await startServer({ dbFile: database.file, env: { KEYMINT_ADMIN_TOKEN: ADMIN_TOKEN } });
    const rootKey = server.bootstrapRootKey ?? "";
    const status = async (path: string, token: string, body?: unknown) =>
      (await callServer(server, token, body === undefined ? "GET" : "POST", path, body)).status;
    const WRONG_ADMIN_TOKEN = "wrong-admin-token-000000";

    const rootKeyStatuses: number[] = [];
    for (let i = 0; i <= 2 * THRESHOLD; i++)
      rootKeyStatuses.push(await status("/v1/keyspaces", secretChanged(rootKey)));
    expect(new Set(rootKeyStatuses)).toEqual(new Set([401]));

    const adminStatuses: number[] = [];
    for (let i = 0; i <= THRESHOLD; i++)
      adminStatuses.push(await status("/v1/admin/workspaces", WRONG_ADMIN_TOKEN, { name: "x" }));
    expect(adminStatuses).toEqual([...Array<number>(THRESHOLD).fill(401), 429]);

    // Fetched here rather than through callServer: its headers are read too.
    const throttled = await fetch(`${server.url}/v1/admin/workspaces`, {
      method: "POST",
      body: JSON.stringify({ name: "x" }),
      headers: { authorization: `Bearer ${WRONG_ADMIN_TOKEN}`, "content-type": "application/json" },
    });
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get("content-type")).toBe("application/problem+json");
    expect(Number(throttled.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(throttled.headers.get("retry-after"))).toBeLessThanOrEqual(60);
    expect(await throttled.json()).toMatchObject({ status: 429, code: "RATE_LIMITED" });

    expect(await status("/v1/keyspaces", rootKey)).toBe(200);
    expect(await status("/v1/admin/workspaces", ADMIN_TOKEN, { name: "x" })).toBe(201);
  });
});

describe("a near-miss key takes the path of any wrong key", () => {
  let t: TestApp;
  let key: string;
  beforeEach(async () => {
    t = await createTestApp();
    key = (await createKey(t, { keyspaceId: (await createKeyspace(t)).id })).key;
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  async function verifyWithLookups(presented: string) {
    const lookups = vi.spyOn(t.deps.repos.keys, "findForVerify");
    const cache = { hits: t.deps.keyCache.hits, misses: t.deps.keyCache.misses };
    const response = await t.call("POST", "/v1/keys/verify", { body: { key: presented } });
    const cacheTouched =
      t.deps.keyCache.hits !== cache.hits || t.deps.keyCache.misses !== cache.misses
        ? "touched"
        : "untouched";
    const calls = lookups.mock.calls.length;
    lookups.mockRestore();
    return { status: response.status, text: response.text, lookups: calls, cache: cacheTouched };
  }

  it("answers a key differing only in its last character exactly as a wrong key, before any cache or database access", async () => {
    const nearMiss = await verifyWithLookups(lastCharChanged(key));
    const garbage = await verifyWithLookups("not a key at all");
    expect(nearMiss).toEqual({
      status: 200,
      text: '{"valid":false,"code":"NOT_FOUND"}',
      lookups: 0,
      cache: "untouched",
    });
    expect(nearMiss).toEqual(garbage);
  });

  it("answers a key with the right id and checksum but another secret with the same body, after the hash compare", async () => {
    const forged = await verifyWithLookups(secretChanged(key));
    expect(forged).toEqual({
      status: 200,
      text: '{"valid":false,"code":"NOT_FOUND"}',
      lookups: 1,
      cache: "touched",
    });
  });

  it("refuses a root key differing only in its last character like any unknown root key, without a lookup", async () => {
    const lookups = vi.spyOn(t.deps.repos.rootKeys, "findById");
    const nearMiss = await t.call("GET", "/v1/keys", { token: lastCharChanged(t.rootKey) });
    expect(lookups).not.toHaveBeenCalled();
    const forged = await t.call("GET", "/v1/keys", { token: secretChanged(t.rootKey) });
    expect(lookups).toHaveBeenCalledTimes(1);
    const { requestId: _a, ...nearMissBody } = nearMiss.body;
    const { requestId: _b, ...forgedBody } = forged.body;
    expectProblem(nearMiss, 401, "UNAUTHORIZED");
    expect(nearMissBody).toEqual(forgedBody);
  });

  it("refuses an admin token differing only in its last character like any wrong token", async () => {
    const nearMiss = await t.call("POST", "/v1/admin/workspaces", {
      body: { name: "x" },
      token: lastCharChanged(ADMIN_TOKEN),
    });
    const wrong = await t.call("POST", "/v1/admin/workspaces", { body: { name: "x" }, token: "x" });
    const { requestId: _a, ...nearMissBody } = nearMiss.body;
    const { requestId: _b, ...wrongBody } = wrong.body;
    expectProblem(nearMiss, 401, "UNAUTHORIZED");
    expect(nearMissBody).toEqual(wrongBody);
  });
});

describe("constant-time comparisons", () => {
  it("compares secrets of different lengths without throwing (both sides are hashed first)", () => {
    expect(secretEquals("short", "a much longer admin token")).toBe(false);
    expect(secretEquals(ADMIN_TOKEN, ADMIN_TOKEN)).toBe(true);
    expect(secretEquals("", "")).toBe(true);
  });

  it("compares digests in constant time and refuses malformed stored hashes", () => {
    const digest = sha256Hex("km_root_example");
    expect(sha256Equals(digest, digest)).toBe(true);
    expect(sha256Equals(digest, sha256Hex("other"))).toBe(false);
    expect(sha256Equals(digest, "not hex")).toBe(false);
    expect(sha256Equals(digest, digest.slice(0, 62))).toBe(false);
  });
});
