import argon2 from "argon2";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { checksumOf, generateKey } from "../../src/keys/format.js";
import { sha256Hex } from "../../src/keys/hash.js";
import { createKeyspace, createTestApp, type TestApp, verify } from "../helpers.js";
import { keyWith, resolve, storedKeyRow, totalChanges, verifyConcurrently } from "../support/verify.js";

describe("POST /v1/keys/verify: argon2id keyspaces", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  async function argon2Key() {
    const keyspace = await createKeyspace(t, { hashAlgorithm: "argon2id" });
    return keyWith(t, {}, keyspace);
  }

  it("stores an argon2id hash with m=19456, t=2, p=1, and verifies the key against it", async () => {
    const created = await argon2Key();
    const row = storedKeyRow(t, created.id);
    const phc = /^\$argon2id\$v=19\$([a-z0-9=,]+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/.exec(String(row?.hash));
    expect(phc?.[1]?.split(",").sort()).toStrictEqual(["m=19456", "p=1", "t=2"]);
    expect(row?.hash).not.toContain(created.key);
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
  });

  it("answers NOT_FOUND to a wrong secret for an argon2 key", async () => {
    const created = await argon2Key();
    const head = `${created.key.slice(0, -7)}${created.key.at(-7) === "a" ? "b" : "a"}`;
    expect(await verify(t, { key: head + checksumOf(head) })).toStrictEqual({
      valid: false,
      code: "NOT_FOUND",
    });
  });

  it("hashes once for 100 concurrent first verifies of a cold key, and not again once cached", async () => {
    const created = await argon2Key();
    const argon2Verify = vi.spyOn(argon2, "verify");
    const { byCode } = await verifyConcurrently(t, 100, { key: created.key });
    expect(byCode).toStrictEqual({ VALID: 100 });
    expect(argon2Verify).toHaveBeenCalledTimes(1);
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    expect(argon2Verify).toHaveBeenCalledTimes(1);
  });

  it("hashes a wrong secret once and then answers it from the negative cache", async () => {
    const created = await argon2Key();
    const head = `${created.key.slice(0, -7)}${created.key.at(-7) === "a" ? "b" : "a"}`;
    const argon2Verify = vi.spyOn(argon2, "verify");
    const { byCode } = await verifyConcurrently(t, 20, { key: head + checksumOf(head) });
    expect(byCode).toStrictEqual({ NOT_FOUND: 20 });
    expect(argon2Verify).toHaveBeenCalledTimes(1);
  });

  it("answers NOT_FOUND, not a 500, when a stored argon2 hash cannot be read", async () => {
    const created = await argon2Key();
    t.db.$client
      .prepare("UPDATE keys SET hash = ? WHERE id = ?")
      .run("$argon2id$v=19$m=19456,t=2,p=1$damaged", created.id);
    t.deps.keyCache.clear();
    const response = await t.call("POST", "/v1/keys/verify", { body: { key: created.key } });
    expect(response.status).toBe(200);
    expect(response.body).toStrictEqual({ valid: false, code: "NOT_FOUND" });
  });
});

describe("POST /v1/keys/verify: the negative cache", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("answers an unknown well-formed key from the negative cache, without a database lookup", async () => {
    const keyspace = await createKeyspace(t);
    const unknown = generateKey(keyspace.prefix).key;
    const lookups = vi.spyOn(t.deps.repos.keys, "findForVerify");
    expect((await verify(t, { key: unknown })).code).toBe("NOT_FOUND");
    expect(lookups).toHaveBeenCalledTimes(1);
    const hits = t.deps.keyCache.hits;
    for (let call = 0; call < 5; call++) expect((await verify(t, { key: unknown })).code).toBe("NOT_FOUND");
    expect(lookups).toHaveBeenCalledTimes(1);
    expect(t.deps.keyCache.hits).toBe(hits + 5);
  });

  it("keeps serving real keys from the cache during a flood of unknown keys", async () => {
    const created = await keyWith(t);
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    const keyspace = await createKeyspace(t);
    await Promise.all(
      Array.from({ length: 200 }, () => verify(t, { key: generateKey(keyspace.prefix).key })),
    );
    const lookups = vi.spyOn(t.deps.repos.keys, "findForVerify");
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    expect(lookups).not.toHaveBeenCalled();
  });

  it("keys the cache by the SHA-256 of the key, never by the plaintext", async () => {
    const created = await keyWith(t);
    await verify(t, { key: created.key });
    const load = vi.fn(async () => null);
    expect((await resolve(t.deps.keyCache, sha256Hex(created.key), load))?.id).toBe(created.id);
    expect(load).not.toHaveBeenCalled();
    expect(await resolve(t.deps.keyCache, created.key, load)).toBeNull();
    expect(load).toHaveBeenCalledTimes(1);
  });
});

describe("the verify lookup on a cache miss", () => {
  it("reads every field verify needs exactly as stored, set or empty", async () => {
    const t = await createTestApp();
    const full = await keyWith(t, {
      name: "full",
      ownerId: "user_1",
      meta: { plan: "pro", nested: { n: 1 } },
      scopes: ["docs:read", "docs:write"],
      enabled: false,
      expiresAt: "2030-01-01T00:00:00.000Z",
      remaining: 7,
      ratelimit: { limit: 5, durationMs: 1000 },
    });
    const bare = await keyWith(t);
    await t.call("POST", `/v1/keys/${bare.id}/revoke`, { body: { reason: "test" } });
    for (const id of [full.id, bare.id]) {
      const stored = await t.deps.repos.keys.findRowById(id);
      const read = await t.deps.repos.keys.findForVerify(id);
      expect(stored).toBeDefined();
      expect(read).toStrictEqual({
        id: stored?.id,
        workspaceId: stored?.workspaceId,
        keyspaceId: stored?.keyspaceId,
        ownerId: stored?.ownerId,
        name: stored?.name,
        start: stored?.start,
        hash: stored?.hash,
        meta: stored?.meta,
        scopes: stored?.scopes,
        enabled: stored?.enabled,
        expiresAt: stored?.expiresAt,
        revokedAt: stored?.revokedAt,
        creditsKeyId: stored?.creditsKeyId,
        remaining: stored?.remaining,
        ratelimitLimit: stored?.ratelimitLimit,
        ratelimitDurationMs: stored?.ratelimitDurationMs,
        lastUsedAt: stored?.lastUsedAt,
      });
    }
    expect(await t.deps.repos.keys.findForVerify("key_000000000000")).toBeUndefined();
  });

  it("reads a rotated-away key's balance from its successor, as the key's own read shows it", async () => {
    const t = await createTestApp();
    const rotateAway = async (fields: Record<string, unknown>) => {
      const old = await keyWith(t, fields);
      const rotated = await t.call("POST", `/v1/keys/${old.id}/rotate`, {
        body: { gracePeriodSeconds: 600 },
      });
      return { oldId: old.id, newId: rotated.body.id as string };
    };
    const limited = await rotateAway({ remaining: 7 });
    const unlimited = await rotateAway({});
    const orphaned = await rotateAway({ remaining: 3 });
    expect((await t.call("DELETE", `/v1/keys/${orphaned.newId}`)).status).toBe(204);

    for (const [rotation, remaining] of [
      [limited, 7],
      [unlimited, null],
      [orphaned, 0],
    ] as const) {
      const before = totalChanges(t);
      const read = await t.deps.repos.keys.findForVerify(rotation.oldId);
      expect(totalChanges(t)).toBe(before);
      expect(read?.creditsKeyId).toBe(rotation.newId);
      expect(read?.remaining).toBe(remaining);
      expect(read?.remaining).toBe((await t.deps.repos.keys.findById(rotation.oldId))?.remaining);
    }
  });
});
