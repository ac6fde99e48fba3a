import argon2 from "argon2";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { checksumOf, generateKey } from "../../src/keys/format.js";
import { sha256Hex } from "../../src/keys/hash.js";
import {
  createKey,
  createKeyspace,
  createTestApp,
  ManualClock,
  requestLinesWritten,
  type TestApp,
  verify,
} from "../helpers.js";
import { createRootKey, createWorkspace, expectValidationErrors } from "../support/api.js";
import { sample } from "../support/ops.js";
import { iso, keyWith, T0 } from "../support/verify.js";

const NOT_FOUND = { valid: false, code: "NOT_FOUND" };

/** The same key with its secret changed and a checksum that matches again: well-formed, but not the key. */
function withWrongSecret(key: string): string {
  const head = key.slice(0, -6);
  const flipped = `${head.slice(0, -1)}${head.endsWith("a") ? "b" : "a"}`;
  return flipped + checksumOf(flipped);
}

describe("POST /v1/keys/verify: the codes", () => {
  let t: TestApp;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
  });

  describe("VALID", () => {
    it("returns the identity fields, remaining after the call and the rate-limit state", async () => {
      const created = await keyWith(t, {
        ownerId: "user_1",
        name: "ci",
        meta: { plan: "pro" },
        scopes: ["read", "write"],
        expiresAt: iso(T0 + 86_400_000),
        remaining: 5,
        ratelimit: { limit: 3, durationMs: 60_000 },
      });
      const result = await verify(t, { key: created.key, scopes: ["read"] });
      expect(result).toStrictEqual({
        valid: true,
        code: "VALID",
        keyId: created.id,
        keyspaceId: created.keyspaceId,
        ownerId: "user_1",
        name: "ci",
        meta: { plan: "pro" },
        scopes: ["read", "write"],
        expiresAt: iso(T0 + 86_400_000),
        remaining: 4,
        ratelimit: { limit: 3, remaining: 2, resetAt: iso(T0 + 60_000) },
      });
    });

    it("omits remaining and ratelimit for a key without credits or a rate limit, and sends nulls as null", async () => {
      const created = await keyWith(t);
      expect(await verify(t, { key: created.key })).toStrictEqual({
        valid: true,
        code: "VALID",
        keyId: created.id,
        keyspaceId: created.keyspaceId,
        ownerId: null,
        name: null,
        meta: {},
        scopes: [],
        expiresAt: null,
      });
    });

    it("treats requested scopes as an exact match, all of which the key must hold", async () => {
      const created = await keyWith(t, { scopes: ["read", "write"] });
      expect((await verify(t, { key: created.key, scopes: ["read", "write"] })).code).toBe("VALID");
      expect((await verify(t, { key: created.key, scopes: [] })).code).toBe("VALID");
      expect((await verify(t, { key: created.key, scopes: ["rea"] })).code).toBe("INSUFFICIENT_SCOPES");
      expect((await verify(t, { key: created.key, scopes: ["read", "admin"] })).code).toBe(
        "INSUFFICIENT_SCOPES",
      );
    });

    it("answers INSUFFICIENT_SCOPES, not 400, for requested scopes no key can hold: no wildcards", async () => {
      const created = await keyWith(t, { scopes: ["read", "write"] });
      const neverHeld = [["*"], ["re*"], ["read", "write:*"], [""], ["r".repeat(65)], ["read write"]];
      neverHeld.push(Array.from({ length: 101 }, (_, i) => (i % 2 ? "read" : `s${i}`)));
      for (const scopes of neverHeld) {
        const response = await t.call("POST", "/v1/keys/verify", { body: { key: created.key, scopes } });
        expect(response.status, JSON.stringify(scopes)).toBe(200);
        expect(response.body).toMatchObject({ valid: false, code: "INSUFFICIENT_SCOPES", keyId: created.id });
      }
      const repeated = Array.from({ length: 150 }, () => "read");
      expect((await verify(t, { key: created.key, scopes: repeated })).code).toBe("VALID");
    });
  });

  describe("NOT_FOUND, with nothing but valid and code", () => {
    it("answers a string that is not a key", async () => {
      expect(await verify(t, { key: "not-a-key" })).toStrictEqual(NOT_FOUND);
      expect(await verify(t, { key: "" })).toStrictEqual(NOT_FOUND);
    });

    it("answers a string of any length that fits the body, not a validation error", async () => {
      for (const length of [1_025, 60_000]) {
        expect(await verify(t, { key: "a".repeat(length) })).toStrictEqual(NOT_FOUND);
      }
    });

    it("answers a key whose checksum does not match, without touching the cache or the database", async () => {
      const created = await keyWith(t);
      const last = created.key.at(-1) === "0" ? "1" : "0";
      const tampered = `${created.key.slice(0, -1)}${last}`;
      const loadsBefore = t.deps.keyCache.misses + t.deps.keyCache.hits;
      const lookups = vi.spyOn(t.deps.keyCache, "cached");
      const reads = vi.spyOn(t.deps.repos.keys, "findForVerify");
      expect(await verify(t, { key: tampered })).toStrictEqual(NOT_FOUND);
      expect(lookups).not.toHaveBeenCalled();
      expect(reads).not.toHaveBeenCalled();
      expect(t.deps.keyCache.misses + t.deps.keyCache.hits).toBe(loadsBefore);
    });

    it("answers a well-formed key nobody issued", async () => {
      const keyspace = await createKeyspace(t);
      expect(await verify(t, { key: generateKey(keyspace.prefix).key })).toStrictEqual(NOT_FOUND);
    });

    it("answers a real keyId presented with a wrong secret", async () => {
      const created = await keyWith(t);
      expect(await verify(t, { key: withWrongSecret(created.key) })).toStrictEqual(NOT_FOUND);
    });

    it("answers a real keyId and secret presented under another prefix", async () => {
      const created = await keyWith(t);
      const other = await createKeyspace(t);
      const head = `${other.prefix}_${created.key.slice(-50, -6)}`;
      expect(await verify(t, { key: head + checksumOf(head) })).toStrictEqual(NOT_FOUND);
    });

    it("answers a root key presented for verification", async () => {
      expect(await verify(t, { key: t.rootKey })).toStrictEqual(NOT_FOUND);
    });

    it("answers a deleted key", async () => {
      const created = await keyWith(t);
      expect((await t.call("DELETE", `/v1/keys/${created.id}`)).status).toBe(204);
      expect(await verify(t, { key: created.key })).toStrictEqual(NOT_FOUND);
    });

    it("answers another workspace's key, both ways", async () => {
      const otherRootKey = (await createWorkspace(t)).rootKey;
      const otherKeyspace = await createKeyspace(t, {}, otherRootKey);
      const theirs = await createKey(t, { keyspaceId: otherKeyspace.id }, otherRootKey);
      const ours = await keyWith(t);
      expect(await verify(t, { key: theirs.key })).toStrictEqual(NOT_FOUND);
      expect(await verify(t, { key: ours.key }, otherRootKey)).toStrictEqual(NOT_FOUND);
      expect((await verify(t, { key: theirs.key }, otherRootKey)).code).toBe("VALID");
    });

    it("answers another workspace's key that its own workspace has just cached (the cache is asked first)", async () => {
      const other = await createWorkspace(t);
      const otherKeyspace = await createKeyspace(t, {}, other.rootKey);
      const theirs = await createKey(t, { keyspaceId: otherKeyspace.id, remaining: 10 }, other.rootKey);
      expect((await verify(t, { key: theirs.key }, other.rootKey)).code).toBe("VALID"); // cached now
      expect(await verify(t, { key: theirs.key })).toStrictEqual(NOT_FOUND);
      // Nothing was spent by the foreign call.
      expect((await verify(t, { key: theirs.key }, other.rootKey)).remaining).toBe(8);
    });

    it("answers another owner's key that an unbound root key has just cached to an owner-bound root key", async () => {
      const boundRootKey = await createRootKey(t, ["keys:verify"], { ownerId: "user_1" });
      const theirs = await keyWith(t, { ownerId: "user_2" });
      expect((await verify(t, { key: theirs.key })).code).toBe("VALID"); // cached now
      expect(await verify(t, { key: theirs.key }, boundRootKey.key)).toStrictEqual(NOT_FOUND);
    });

    it("spends no argon2id computation on another tenant's key id, and leaves its owner's verifies unharmed", async () => {
      const otherRootKey = (await createWorkspace(t)).rootKey;
      const slow = await createKeyspace(t, { hashAlgorithm: "argon2id" }, otherRootKey);
      const theirs = await createKey(t, { keyspaceId: slow.id }, otherRootKey);
      const computations = vi.spyOn(argon2, "verify");
      // Forged keys naming their key id (public: it is in `start`), each with a valid checksum.
      for (let i = 0; i < 5; i++) {
        const head = `${theirs.key.slice(0, -38)}${String(i).repeat(32)}`;
        expect(await verify(t, { key: head + checksumOf(head) })).toStrictEqual(NOT_FOUND);
      }
      // Their real key, from this workspace, at the same time as its own workspace verifies it.
      const [ours, own] = await Promise.all([
        verify(t, { key: theirs.key }),
        verify(t, { key: theirs.key }, otherRootKey),
      ]);
      expect(ours).toStrictEqual(NOT_FOUND);
      expect(own.code).toBe("VALID");
      expect(computations).toHaveBeenCalledTimes(1); // the owner's own verify
      expect((await verify(t, { key: theirs.key }, otherRootKey)).code).toBe("VALID");
      computations.mockRestore();
    });

    it("answers another owner's key to an owner-bound root key", async () => {
      const boundRootKey = await createRootKey(t, ["keys:verify"], { ownerId: "user_1" });
      const mine = await keyWith(t, { ownerId: "user_1" });
      const theirs = await keyWith(t, { ownerId: "user_2" });
      const unowned = await keyWith(t);
      expect((await verify(t, { key: mine.key }, boundRootKey.key)).code).toBe("VALID");
      expect(await verify(t, { key: theirs.key }, boundRootKey.key)).toStrictEqual(NOT_FOUND);
      expect(await verify(t, { key: unowned.key }, boundRootKey.key)).toStrictEqual(NOT_FOUND);
    });

    it("answers another workspace's or owner's key NOT_FOUND whatever state it is in (NOT_FOUND comes first)", async () => {
      const other = await createWorkspace(t);
      const otherKeyspace = await createKeyspace(t, {}, other.rootKey);
      const boundRootKey = await createRootKey(t, ["keys:verify"], { ownerId: "user_1" });
      const theirs = (fields: Record<string, unknown>) =>
        createKey(t, { keyspaceId: otherKeyspace.id, ...fields }, other.rootKey);
      const revoked = await theirs({});
      expect(
        (await t.call("POST", `/v1/keys/${revoked.id}/revoke`, { body: {}, token: other.rootKey })).status,
      ).toBe(200);
      const states = {
        revoked,
        disabled: await theirs({ enabled: false }),
        expired: await theirs({ expiresAt: iso(T0 + 1_000) }),
        scoped: await theirs({ scopes: ["read"] }),
        spent: await theirs({ scopes: ["write"], remaining: 0 }),
      };
      const anotherOwners = {
        revoked: await keyWith(t, { ownerId: "user_2" }),
        disabled: await keyWith(t, { ownerId: "user_2", enabled: false }),
        expired: await keyWith(t, { ownerId: "user_2", expiresAt: iso(T0 + 1_000) }),
      };
      expect((await t.call("POST", `/v1/keys/${anotherOwners.revoked.id}/revoke`, { body: {} })).status).toBe(
        200,
      );
      clock.advance(2_000);
      for (const key of Object.values(states)) {
        expect(await verify(t, { key: key.key, scopes: ["write"], cost: 5 })).toStrictEqual(NOT_FOUND);
      }
      for (const key of Object.values(anotherOwners)) {
        expect(await verify(t, { key: key.key }, boundRootKey.key)).toStrictEqual(NOT_FOUND);
      }
      // Their own callers see each state.
      const own = await Promise.all(
        Object.values(states).map((key) =>
          verify(t, { key: key.key, scopes: ["write"], cost: 5 }, other.rootKey),
        ),
      );
      expect(own.map((result) => result.code)).toEqual([
        "REVOKED",
        "DISABLED",
        "EXPIRED",
        "INSUFFICIENT_SCOPES",
        "USAGE_EXCEEDED",
      ]);
      const workspaceWide = await Promise.all(
        Object.values(anotherOwners).map((key) => verify(t, { key: key.key })),
      );
      expect(workspaceWide.map((result) => result.code)).toEqual(["REVOKED", "DISABLED", "EXPIRED"]);
    });

    it("does not count a refused key's usage for a caller that may not see it", async () => {
      const otherRootKey = (await createWorkspace(t)).rootKey;
      const ours = await keyWith(t);
      await verify(t, { key: ours.key }, otherRootKey);
      const usage = await t.call("GET", `/v1/keys/${ours.id}/usage`);
      expect(usage.body).toStrictEqual({ data: [] });
    });
  });

  describe("the refusals carry the identity fields", () => {
    it("answers REVOKED for a revoked key", async () => {
      const created = await keyWith(t, { name: "old", remaining: 3 });
      await t.call("POST", `/v1/keys/${created.id}/revoke`, { body: { reason: "leaked" } });
      expect(await verify(t, { key: created.key })).toStrictEqual({
        valid: false,
        code: "REVOKED",
        keyId: created.id,
        keyspaceId: created.keyspaceId,
        ownerId: null,
        name: "old",
        meta: {},
        scopes: [],
        expiresAt: null,
        remaining: 3,
      });
    });

    it("answers DISABLED for a disabled key", async () => {
      const created = await keyWith(t, { enabled: false, ratelimit: { limit: 2, durationMs: 1_000 } });
      expect(await verify(t, { key: created.key })).toStrictEqual({
        valid: false,
        code: "DISABLED",
        keyId: created.id,
        keyspaceId: created.keyspaceId,
        ownerId: null,
        name: null,
        meta: {},
        scopes: [],
        expiresAt: null,
        ratelimit: { limit: 2, remaining: 2, resetAt: iso(T0 + 1_000) },
      });
    });

    it("answers EXPIRED from the millisecond expiresAt is reached", async () => {
      const created = await keyWith(t, { expiresAt: iso(T0 + 1_000) });
      clock.advance(999);
      expect((await verify(t, { key: created.key })).code).toBe("VALID");
      clock.advance(1);
      expect(await verify(t, { key: created.key })).toStrictEqual({
        valid: false,
        code: "EXPIRED",
        keyId: created.id,
        keyspaceId: created.keyspaceId,
        ownerId: null,
        name: null,
        meta: {},
        scopes: [],
        expiresAt: iso(T0 + 1_000),
      });
    });

    it("answers INSUFFICIENT_SCOPES when the key lacks a requested scope", async () => {
      const created = await keyWith(t, { scopes: ["read"] });
      expect(await verify(t, { key: created.key, scopes: ["read", "write"] })).toStrictEqual({
        valid: false,
        code: "INSUFFICIENT_SCOPES",
        keyId: created.id,
        keyspaceId: created.keyspaceId,
        ownerId: null,
        name: null,
        meta: {},
        scopes: ["read"],
        expiresAt: null,
      });
    });

    it("keeps answering RATE_LIMITED until the window ends, however many other keys are in a window", async () => {
      // A cache of 2 keys: the rate windows once shared its bound and dropped the least recently used.
      const small = await createTestApp({ clock, config: { KEYMINT_CACHE_MAX: 2 } });
      const oncePerDay = { ratelimit: { limit: 1, durationMs: 86_400_000 } };
      const limited = await keyWith(small, oncePerDay);
      expect((await verify(small, { key: limited.key })).code).toBe("VALID");
      for (let i = 0; i < 3; i++) {
        expect((await verify(small, { key: (await keyWith(small, oncePerDay)).key })).code).toBe("VALID");
      }
      expect(await verify(small, { key: limited.key })).toMatchObject({
        code: "RATE_LIMITED",
        ratelimit: { limit: 1, remaining: 0, resetAt: iso(T0 + 86_400_000) },
      });
    });

    it("answers RATE_LIMITED over the limit, with the window's reset time", async () => {
      const created = await keyWith(t, { ratelimit: { limit: 1, durationMs: 10_000 } });
      expect((await verify(t, { key: created.key })).code).toBe("VALID");
      clock.advance(4_000);
      expect(await verify(t, { key: created.key })).toStrictEqual({
        valid: false,
        code: "RATE_LIMITED",
        keyId: created.id,
        keyspaceId: created.keyspaceId,
        ownerId: null,
        name: null,
        meta: {},
        scopes: [],
        expiresAt: null,
        ratelimit: { limit: 1, remaining: 0, resetAt: iso(T0 + 10_000) },
      });
    });

    it("answers USAGE_EXCEEDED when no credits are left", async () => {
      const created = await keyWith(t, { remaining: 0 });
      expect(await verify(t, { key: created.key })).toStrictEqual({
        valid: false,
        code: "USAGE_EXCEEDED",
        keyId: created.id,
        keyspaceId: created.keyspaceId,
        ownerId: null,
        name: null,
        meta: {},
        scopes: [],
        expiresAt: null,
        remaining: 0,
      });
    });
  });

  describe("the request", () => {
    it("returns 403 to a root key without keys:verify", async () => {
      const readOnly = await createRootKey(t, ["keys:read"]);
      const created = await keyWith(t);
      const response = await t.call("POST", "/v1/keys/verify", {
        body: { key: created.key },
        token: readOnly.key,
      });
      expect(response.status).toBe(403);
      expect(response.body.code).toBe("FORBIDDEN");
    });

    it("never writes the presented key or its hash to a log line", async () => {
      const created = await keyWith(t);
      await verify(t, { key: created.key });
      await verify(t, { key: `${created.key.slice(0, -1)}x` });
      requestLinesWritten(t);
      const logs = t.logs.join("\n");
      expect(logs).toContain("/v1/keys/verify");
      expect(logs).not.toContain(created.key.slice(-44));
      expect(logs).not.toContain(sha256Hex(created.key));
      expect(logs).not.toContain(t.rootKey.slice(-44));
    });

    it("returns 400 for unknown fields and never echoes the key", async () => {
      const created = await keyWith(t);
      const response = await t.call("POST", "/v1/keys/verify", { body: { key: created.key, cots: 2 } });
      expectValidationErrors(response, ["cots"]);
      expect(response.text).not.toContain(created.key);
    });

    it.each([
      ["no key", {}, ["key"]],
      ["a key that is not a string", { key: 42 }, ["key"]],
      ["a cost over 1000", { key: "x", cost: 1001 }, ["cost"]],
      ["a negative cost", { key: "x", cost: -1 }, ["cost"]],
      ["a fractional cost", { key: "x", cost: 1.5 }, ["cost"]],
      ["scopes that are not an array", { key: "x", scopes: "read" }, ["scopes"]],
      [
        "a scope that is not a string, and a bad cost",
        { key: "x", scopes: ["read", 7], cost: "2" },
        ["scopes.1", "cost"],
      ],
    ])(
      "returns 400 VALIDATION_FAILED for %s, one entry per bad field, and counts nothing",
      async (_, body, paths) => {
        expectValidationErrors(await t.call("POST", "/v1/keys/verify", { body }), paths);
        const metrics = await (await t.app.request("/metrics")).text();
        expect(sample(metrics, "keymint_verifications_total", { code: "NOT_FOUND" })).toBe(0);
      },
    );
  });
});

describe("POST /v1/keys/verify: the first failing check decides, in contract order", () => {
  let t: TestApp;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
  });

  it("answers REVOKED for a key that is revoked, disabled and expired", async () => {
    const created = await keyWith(t, { enabled: false, expiresAt: iso(T0 + 1_000), scopes: [] });
    await t.call("POST", `/v1/keys/${created.id}/revoke`);
    clock.advance(2_000);
    expect((await verify(t, { key: created.key, scopes: ["admin"] })).code).toBe("REVOKED");
  });

  it("answers DISABLED for a key that is disabled and expired", async () => {
    const created = await keyWith(t, { enabled: false, expiresAt: iso(T0 + 1_000) });
    clock.advance(2_000);
    expect((await verify(t, { key: created.key, scopes: ["admin"] })).code).toBe("DISABLED");
  });

  it("answers EXPIRED for a key that is expired and lacks the requested scopes", async () => {
    const created = await keyWith(t, { expiresAt: iso(T0 + 1_000), scopes: ["read"] });
    clock.advance(2_000);
    expect((await verify(t, { key: created.key, scopes: ["admin"] })).code).toBe("EXPIRED");
  });

  it("answers INSUFFICIENT_SCOPES for a key that lacks the scopes and is rate limited", async () => {
    const created = await keyWith(t, { scopes: ["read"], ratelimit: { limit: 1, durationMs: 60_000 } });
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    expect((await verify(t, { key: created.key, scopes: ["admin"] })).code).toBe("INSUFFICIENT_SCOPES");
  });

  it("answers RATE_LIMITED for a key that is rate limited and out of credits", async () => {
    const created = await keyWith(t, { remaining: 1, ratelimit: { limit: 1, durationMs: 60_000 } });
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    const result = await verify(t, { key: created.key });
    expect(result.code).toBe("RATE_LIMITED");
    expect(result.remaining).toBe(0);
  });
});
