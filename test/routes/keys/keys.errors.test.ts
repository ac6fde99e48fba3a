import { beforeEach, describe, expect, it } from "vitest";
import { createKey, createKeyspace, createTestApp, ManualClock, type TestApp } from "../../helpers.js";
import { expectProblem, expectStatus, expectValidationErrors } from "../../support/api.js";

describe("keys: create errors", () => {
  let clock: ManualClock;
  let t: TestApp;
  let keyspaceId: string;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
    keyspaceId = (await createKeyspace(t)).id;
  });

  const create = (body: Record<string, unknown>) =>
    t.call("POST", "/v1/keys", { body: { keyspaceId, ...body } });

  it("answers 404 for an unknown keyspace", async () => {
    const response = await t.call("POST", "/v1/keys", { body: { keyspaceId: "ksp_unknown" } });
    expectProblem(response, 404, "NOT_FOUND");
  });

  it("answers 400 when keyspaceId is missing", async () => {
    expectValidationErrors(await t.call("POST", "/v1/keys", { body: {} }), ["keyspaceId"]);
  });

  it("answers 400 for an expiresAt in the past", async () => {
    expectValidationErrors(await create({ expiresAt: "2026-11-27T03:59:59.999Z" }), ["expiresAt"]);
  });

  it("answers 400 for an expiresAt equal to now: it must be in the future", async () => {
    expectValidationErrors(await create({ expiresAt: "2026-11-27T04:00:00.000Z" }), ["expiresAt"]);
  });

  it("names a past expiresAt beside the body's other bad fields, one entry each", async () => {
    const response = await create({ name: "n".repeat(129), expiresAt: "2026-11-27T03:59:59.999Z" });
    expectValidationErrors(response, ["name", "expiresAt"]);
    const patched = await t.call("PATCH", `/v1/keys/${(await createKey(t, { keyspaceId })).id}`, {
      body: { scopes: ["bad scope"], expiresAt: "2026-11-27T04:00:00.000Z" },
    });
    expectValidationErrors(patched, ["scopes.0", "expiresAt"]);
  });

  it("answers 400 for an expiresAt that is not an ISO 8601 time, named once even when also in the past", async () => {
    expectValidationErrors(await create({ expiresAt: "tomorrow" }), ["expiresAt"]);
    // A date without a time is no ISO 8601 date-time, and Date.parse reads it as a time long past: one
    // entry per bad field all the same.
    const response = await create({ expiresAt: "2020-01-01" });
    expectValidationErrors(response, ["expiresAt"]);
    expect(response.body.errors).toHaveLength(1);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["a name over 128 chars", { name: "n".repeat(129) }, "name"],
    ["an empty name", { name: "" }, "name"],
    ["an ownerId over 256 chars", { ownerId: "o".repeat(257) }, "ownerId"],
    ["meta over 4 KiB as JSON", { meta: { m: "x".repeat(4096 - 7) } }, "meta"],
    // 4 KiB of bytes: "é" is two bytes in UTF-8, so 2,045 of them are 4,097 bytes but 2,052 characters as JSON.
    ["meta over 4 KiB in UTF-8 bytes", { meta: { m: "é".repeat(2045) } }, "meta"],
    ["meta that is an array", { meta: [1, 2] }, "meta"],
    ["meta that is a string", { meta: "plan=pro" }, "meta"],
    ["101 scopes", { scopes: Array.from({ length: 101 }, (_, i) => `s${i}`) }, "scopes"],
    ["a scope with a space", { scopes: ["ok", "not ok"] }, "scopes.1"],
    ["a scope with a wildcard", { scopes: ["documents:*"] }, "scopes.0"],
    ["an empty scope", { scopes: [""] }, "scopes.0"],
    ["a scope over 64 chars", { scopes: ["s".repeat(65)] }, "scopes.0"],
    ["scopes that are not an array", { scopes: "read" }, "scopes"],
    ["a negative remaining", { remaining: -1 }, "remaining"],
    ["a remaining over 2^31", { remaining: 2 ** 31 + 1 }, "remaining"],
    ["a fractional remaining", { remaining: 1.5 }, "remaining"],
    ["a remaining given as a string", { remaining: "5" }, "remaining"],
    ["a ratelimit.limit of 0", { ratelimit: { limit: 0, durationMs: 1000 } }, "ratelimit.limit"],
    // Year 10000 in UTC: it would be answered as "+010000-…", which RFC 3339 cannot write.
    ["an expiresAt past 9999 in UTC", { expiresAt: "9999-12-31T23:59:59-23:59" }, "expiresAt"],
    [
      "a ratelimit.limit past exact JSON integers",
      { ratelimit: { limit: 2 ** 53, durationMs: 1000 } },
      "ratelimit.limit",
    ],
    [
      "a ratelimit.durationMs under 1000",
      { ratelimit: { limit: 1, durationMs: 999 } },
      "ratelimit.durationMs",
    ],
    [
      "a ratelimit.durationMs over a day",
      { ratelimit: { limit: 1, durationMs: 86_400_001 } },
      "ratelimit.durationMs",
    ],
    ["a ratelimit without durationMs", { ratelimit: { limit: 1 } }, "ratelimit.durationMs"],
    ["a refill.amount of 0", { refill: { amount: 0, interval: "daily" } }, "refill.amount"],
    // It would refill remaining past its limit.
    ["a refill.amount over 2^31", { refill: { amount: 2 ** 31 + 1, interval: "daily" } }, "refill.amount"],
    ["a weekly refill", { refill: { amount: 5, interval: "weekly" } }, "refill.interval"],
    ["an enabled that is not a boolean", { enabled: "yes" }, "enabled"],
  ])("answers 400 VALIDATION_FAILED for %s, naming the field", async (_, body, path) => {
    expectValidationErrors(await create(body), [path]);
  });

  it("answers 400 for meta with a __proto__ key rather than dropping it silently", async () => {
    const raw = `{"keyspaceId":"${keyspaceId}","meta":{"__proto__":{"admin":true},"plan":"pro"}}`;
    const response = await t.call("POST", "/v1/keys", {
      raw,
      headers: { "content-type": "application/json" },
    });
    // Named at the field itself when the body is checked before the schema, else at meta.
    expectProblem(response, 400, "VALIDATION_FAILED");
    expect(response.body.errors).toEqual([
      { path: expect.stringMatching(/^meta(\.__proto__)?$/), message: expect.any(String) },
    ]);
  });

  it.each([
    ["in meta", `"name":"${"n".repeat(129)}","meta":{"__proto__":{"a":1}}`, ["meta", "name"]],
    ["at the top", `"__proto__":{},"bogus":1`, ["(root)", "bogus"]],
    // The one rule the schema cannot check, as the validation hook applies it: expiresAt in the future.
    [
      "beside a past expiresAt",
      `"expiresAt":"2020-01-01T00:00:00.000Z","meta":{"__proto__":{}}`,
      ["expiresAt", "meta"],
    ],
  ])("names the body's other bad fields beside a __proto__ key %s", async (_, fields, paths) => {
    const response = await t.call("POST", "/v1/keys", {
      raw: `{"keyspaceId":"${keyspaceId}",${fields}}`,
      headers: { "content-type": "application/json" },
    });
    expectValidationErrors(response, paths);
  });

  it("rejects unknown body fields, each under its own name, so a typo never passes silently", async () => {
    expectValidationErrors(await create({ expiresIn: 60, scope: ["a"] }), ["expiresIn", "scope"]);
  });

  it("rejects unknown fields inside refill and ratelimit", async () => {
    const response = await create({
      refill: { amount: 1, interval: "daily", day: 3 },
      ratelimit: { limit: 1, durationMs: 1000, burst: 2 },
    });
    expectValidationErrors(response, ["refill.day", "ratelimit.burst"]);
  });

  it("reports every bad field of one request, one entry per field", async () => {
    const response = await create({
      name: "n".repeat(129),
      ownerId: "o".repeat(257),
      meta: { m: "x".repeat(5000) },
      scopes: ["a b"],
      remaining: -1,
      ratelimit: { limit: 0, durationMs: 10 },
      refill: { amount: 0, interval: "hourly" },
      enabled: 1,
      typo: true,
    });
    expectValidationErrors(response, [
      "name",
      "ownerId",
      "meta",
      "scopes.0",
      "remaining",
      "ratelimit.limit",
      "ratelimit.durationMs",
      "refill.amount",
      "refill.interval",
      "enabled",
      "typo",
    ]);
  });

  it("creates nothing when the request fails", async () => {
    await create({ remaining: -1 });
    await create({ expiresAt: "2020-01-01T00:00:00.000Z" });
    expect((await t.call("GET", "/v1/keys?status=all")).body.data).toEqual([]);
  });
});

describe("keys: list errors", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });

  it.each([
    ["status=deleted", "status"],
    ["limit=0", "limit"],
    ["limit=101", "limit"],
    ["limit=ten", "limit"],
    ["limit=2.5", "limit"],
    // Number() would read each of these as a limit.
    ["limit=0x10", "limit"],
    ["limit=0b11", "limit"],
    ["limit=1e1", "limit"],
    ["limit=%2B7", "limit"],
    ["limit=%205", "limit"],
    ["limit=", "limit"],
    ["owner=alice", "owner"],
  ])("answers 400 VALIDATION_FAILED for ?%s", async (query, path) => {
    expectValidationErrors(await t.call("GET", `/v1/keys?${query}`), [path]);
  });

  it("answers 400 for a tampered cursor", async () => {
    const keyspaceId = (await createKeyspace(t)).id;
    for (let i = 0; i < 3; i++) await createKey(t, { keyspaceId });
    const cursor: string = (await t.call("GET", "/v1/keys?limit=1")).body.nextCursor;
    // One bit flipped in the IV, the sealed position and the tag.
    const sealed = Buffer.from(cursor, "base64url");
    const forged = [0, 11, 12, 19, 20, 35].map((byte) => {
      const copy = Buffer.from(sealed);
      copy[byte] = (copy[byte] as number) ^ 1;
      return copy.toString("base64url");
    });
    // Also spellings Node's lenient base64url decoder reads as the same bytes: padding, a stray character.
    const sameBytes = [`${cursor}=`, `${cursor.slice(0, 2)}!${cursor.slice(2)}`];
    for (const bad of [
      ...forged,
      `${cursor}x`,
      `x${cursor}`,
      "garbage",
      `${cursor}.`,
      `${cursor}.more`,
      ...sameBytes,
    ]) {
      const response = await t.call("GET", `/v1/keys?limit=1&cursor=${encodeURIComponent(bad)}`);
      expectProblem(response, 400, "BAD_REQUEST");
    }
  });

  it("answers 400 for a cursor issued for another list", async () => {
    const keyspaceId = (await createKeyspace(t)).id;
    await createKey(t, { keyspaceId });
    const auditCursor = (await t.call("GET", "/v1/audit-events?limit=1")).body.nextCursor;
    expect(auditCursor).toEqual(expect.any(String));
    expectProblem(await t.call("GET", `/v1/keys?cursor=${auditCursor}`), 400, "BAD_REQUEST");
  });

  it("answers 400 for a cursor another deployment issued", async () => {
    const other = await createTestApp();
    const keyspaceId = (await createKeyspace(other)).id;
    for (let i = 0; i < 2; i++) await createKey(other, { keyspaceId });
    const foreign = (await other.call("GET", "/v1/keys?limit=1")).body.nextCursor;
    expectProblem(await t.call("GET", `/v1/keys?cursor=${foreign}`), 400, "BAD_REQUEST");
  });
});

describe("keys: errors on one key", () => {
  let clock: ManualClock;
  let t: TestApp;
  let keyspaceId: string;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
    keyspaceId = (await createKeyspace(t)).id;
  });

  it.each([
    ["GET", "/v1/keys/key_unknown"],
    ["PATCH", "/v1/keys/key_unknown"],
    ["DELETE", "/v1/keys/key_unknown"],
    ["POST", "/v1/keys/key_unknown/rotate"],
    ["POST", "/v1/keys/key_unknown/revoke"],
    ["GET", `/v1/keys/key_${"x".repeat(200)}`],
    ["GET", `/v1/keys/key_${"x".repeat(200)}/usage`],
  ])("answers 404 for %s %s", async (method, path) => {
    const body = method === "PATCH" ? { name: "x" } : undefined;
    expectProblem(await t.call(method, path, { body }), 404, "NOT_FOUND");
  });

  it("answers 400 for a patch with an unknown field, a keyspaceId, or a bad value", async () => {
    const key = await createKey(t, { keyspaceId });
    const response = await t.call("PATCH", `/v1/keys/${key.id}`, {
      body: { keyspaceId, nmae: "typo", remaining: -5, expiresAt: "soon" },
    });
    expectValidationErrors(response, ["keyspaceId", "nmae", "remaining", "expiresAt"]);
  });

  it.each([
    ["meta: null (not a nullable field)", { meta: null }],
    ["scopes: null", { scopes: null }],
    ["enabled: null", { enabled: null }],
    ["a name over 128 chars", { name: "n".repeat(129) }],
    ["an ownerId over 256 chars", { ownerId: "o".repeat(257) }],
    ["meta over 4 KiB as JSON", { meta: { m: "x".repeat(4096) } }],
  ])("answers 400 to a patch with %s, and changes nothing", async (_, body) => {
    const key = await createKey(t, { keyspaceId, name: "kept", meta: { plan: "pro" }, scopes: ["read"] });
    const response = await t.call("PATCH", `/v1/keys/${key.id}`, { body });
    expectValidationErrors(response, Object.keys(body));
    expect((await t.call("GET", `/v1/keys/${key.id}`)).body).toMatchObject({
      name: "kept",
      ownerId: null,
      meta: { plan: "pro" },
      scopes: ["read"],
      enabled: true,
      updatedAt: key.updatedAt,
    });
  });

  it("answers 400 to remaining: null on a key that keeps a refill (never refilled), and changes nothing", async () => {
    const key = await createKey(t, { keyspaceId, remaining: 3, refill: { amount: 5, interval: "daily" } });
    const response = await t.call("PATCH", `/v1/keys/${key.id}`, { body: { remaining: null } });
    expectValidationErrors(response, ["remaining"]);
    expect((await t.call("GET", `/v1/keys/${key.id}`)).body).toMatchObject({
      remaining: 3,
      refill: { amount: 5, interval: "daily" },
    });
  });

  it("answers 400 to a create asking for remaining: null under its keyspace's default refill, as PATCH does", async () => {
    const refilled = await createKeyspace(t, { defaults: { refill: { amount: 10, interval: "daily" } } });
    const response = await t.call("POST", "/v1/keys", { body: { keyspaceId: refilled.id, remaining: null } });
    expectValidationErrors(response, ["remaining"]);
    expect((await t.call("GET", `/v1/keys?keyspaceId=${refilled.id}`)).body.data).toEqual([]);
    // With refill: null too, the key is unlimited.
    const unlimited = await createKey(t, { keyspaceId: refilled.id, remaining: null, refill: null });
    expect(unlimited).toMatchObject({ remaining: null, refill: null });
  });

  it("answers 404, not 400, to a create naming a keyspace id of any length that does not exist", async () => {
    const response = await t.call("POST", "/v1/keys", { body: { keyspaceId: `ksp_${"x".repeat(200)}` } });
    expectProblem(response, 404, "NOT_FOUND");
  });

  it("answers 400 for a patch that sets expiresAt in the past, and changes nothing", async () => {
    const key = await createKey(t, { keyspaceId, name: "before" });
    const response = await t.call("PATCH", `/v1/keys/${key.id}`, {
      body: { name: "after", expiresAt: "2026-11-27T03:00:00.000Z" },
    });
    expectValidationErrors(response, ["expiresAt"]);
    expect((await t.call("GET", `/v1/keys/${key.id}`)).body.name).toBe("before");
  });

  it.each([
    ["a negative grace period", { gracePeriodSeconds: -1 }],
    ["a grace period over 30 days", { gracePeriodSeconds: 2_592_001 }],
    ["a fractional grace period", { gracePeriodSeconds: 1.5 }],
    ["an unknown field", { grace: 10 }],
  ])("answers 400 for a rotation with %s", async (_, body) => {
    const key = await createKey(t, { keyspaceId });
    const response = await t.call("POST", `/v1/keys/${key.id}/rotate`, { body });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe("VALIDATION_FAILED");
    expect((await t.call("GET", `/v1/keys/${key.id}`)).body.replacedById).toBeNull();
  });

  it("accepts the longest grace period, 30 days", async () => {
    const key = await createKey(t, { keyspaceId });
    const response = await t.call("POST", `/v1/keys/${key.id}/rotate`, {
      body: { gracePeriodSeconds: 2_592_000 },
    });
    expect(response.status).toBe(201);
    expect((await t.call("GET", `/v1/keys/${key.id}`)).body.expiresAt).toBe("2026-12-27T04:00:00.000Z");
  });

  it("answers 409 for rotating a revoked key", async () => {
    const key = await createKey(t, { keyspaceId });
    await t.call("POST", `/v1/keys/${key.id}/revoke`);
    expectProblem(await t.call("POST", `/v1/keys/${key.id}/rotate`), 409, "CONFLICT");
  });

  it("answers 409 for rotating an expired key", async () => {
    const key = await createKey(t, { keyspaceId, expiresAt: "2026-11-27T04:00:01.000Z" });
    clock.advance(1000);
    expectProblem(await t.call("POST", `/v1/keys/${key.id}/rotate`), 409, "CONFLICT");
  });

  it("answers 409 for rotating a key already replaced, even within its grace period", async () => {
    const key = await createKey(t, { keyspaceId });
    await t.call("POST", `/v1/keys/${key.id}/rotate`, { body: { gracePeriodSeconds: 3600 } });
    expectProblem(await t.call("POST", `/v1/keys/${key.id}/rotate`), 409, "CONFLICT");
    expect((await t.call("GET", "/v1/keys?status=all")).body.data).toHaveLength(2);
  });

  it("answers 409 for remaining or refill on a rotated-away key, which spends its successor's credits", async () => {
    const key = await createKey(t, { keyspaceId, remaining: 10 });
    const rotated = await t.call("POST", `/v1/keys/${key.id}/rotate`, { body: { gracePeriodSeconds: 3600 } });
    const successor = rotated.body.id as string;
    for (const body of [{ remaining: 500 }, { refill: { amount: 5, interval: "daily" } }, { refill: null }]) {
      const response = await t.call("PATCH", `/v1/keys/${key.id}`, { body });
      expectProblem(response, 409, "CONFLICT");
      expect(response.body.detail).toContain(successor);
    }
    for (const id of [key.id, successor]) {
      const shown = (await t.call("GET", `/v1/keys/${id}`)).body;
      expect(shown).toMatchObject({ remaining: 10, refill: null });
    }
    // Its other fields are its own to change, and the successor's balance is changed on the successor.
    expect((await t.call("PATCH", `/v1/keys/${key.id}`, { body: { name: "old" } })).status).toBe(200);
    expect((await t.call("PATCH", `/v1/keys/${successor}`, { body: { remaining: 500 } })).status).toBe(200);
    expect((await t.call("GET", `/v1/keys/${key.id}`)).body).toMatchObject({ name: "old", remaining: 500 });
  });

  it("takes a patch that gives a rotated-away key the expiry it already has: that does not extend its life", async () => {
    const key = await createKey(t, { keyspaceId });
    await t.call("POST", `/v1/keys/${key.id}/rotate`, { body: { gracePeriodSeconds: 3600 } });
    const old = (await t.call("GET", `/v1/keys/${key.id}`)).body;
    expect(old.expiresAt).toBe("2026-11-27T05:00:00.000Z");
    // A dashboard sending back the fields it shows, its expiry unchanged.
    const same = await t.call("PATCH", `/v1/keys/${key.id}`, {
      body: { name: "old one", expiresAt: old.expiresAt },
    });
    expectStatus(same, 200);
    expect(same.body).toMatchObject({ name: "old one", expiresAt: "2026-11-27T05:00:00.000Z" });
  });

  it.each([
    ["over 512 chars", "r".repeat(513)],
    ["that is empty", ""],
  ])("answers 400 for a revocation reason %s, and revokes nothing", async (_, reason) => {
    const key = await createKey(t, { keyspaceId });
    const response = await t.call("POST", `/v1/keys/${key.id}/revoke`, { body: { reason } });
    expectValidationErrors(response, ["reason"]);
    expect((await t.call("GET", `/v1/keys/${key.id}`)).body.revokedAt).toBeNull();
  });
});
