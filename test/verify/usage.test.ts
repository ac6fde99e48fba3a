import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { checksumOf } from "../../src/keys/format.js";
import { createKey, createKeyspace, createTestApp, ManualClock, type TestApp, verify } from "../helpers.js";
import { createWorkspace, expectValidationErrors } from "../support/api.js";
import { sample } from "../support/ops.js";
import { keyWith, totalChanges } from "../support/verify.js";

describe("GET /v1/keys/:id/usage", () => {
  let t: TestApp;
  let clock: ManualClock;
  let key: { id: string; key: string };

  /** Verifications at known times: two UTC hours on Nov 27 (with a gap), one hour on Nov 28. */
  async function verifyAt(time: string, body: Record<string, unknown> = {}) {
    clock.set(time);
    return verify(t, { key: key.key, ...body });
  }

  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
    key = await keyWith(t, { scopes: ["read"] });
    await verifyAt("2026-11-27T04:10:00.000Z");
    await verifyAt("2026-11-27T04:59:59.999Z");
    await verifyAt("2026-11-27T04:20:00.000Z", { scopes: ["admin"] });
    await verifyAt("2026-11-27T06:00:00.000Z");
    await verifyAt("2026-11-28T01:00:00.000Z");
    await t.call("POST", `/v1/keys/${key.id}/revoke`);
    await verifyAt("2026-11-28T01:30:00.000Z");
    clock.set("2026-11-28T02:00:00.000Z");
  });

  async function usage(query: string, token?: string) {
    return t.call("GET", `/v1/keys/${key.id}/usage${query}`, { token });
  }

  it("counts per UTC hour by code, sparse, with valid and invalid sums", async () => {
    const response = await usage(
      "?granularity=hour&from=2026-11-27T04:00:00.000Z&to=2026-11-28T04:00:00.000Z",
    );
    expect(response.status).toBe(200);
    expect(response.body).toStrictEqual({
      data: [
        {
          time: "2026-11-27T04:00:00.000Z",
          valid: 2,
          invalid: 1,
          byCode: { VALID: 2, INSUFFICIENT_SCOPES: 1 },
        },
        { time: "2026-11-27T06:00:00.000Z", valid: 1, invalid: 0, byCode: { VALID: 1 } },
        { time: "2026-11-28T01:00:00.000Z", valid: 1, invalid: 1, byCode: { VALID: 1, REVOKED: 1 } },
      ],
    });
  });

  it("sums the hours of each UTC day with granularity=day", async () => {
    const response = await usage(
      "?granularity=day&from=2026-11-27T00:00:00.000Z&to=2026-11-29T00:00:00.000Z",
    );
    expect(response.status).toBe(200);
    expect(response.body).toStrictEqual({
      data: [
        {
          time: "2026-11-27T00:00:00.000Z",
          valid: 3,
          invalid: 1,
          byCode: { VALID: 3, INSUFFICIENT_SCOPES: 1 },
        },
        { time: "2026-11-28T00:00:00.000Z", valid: 1, invalid: 1, byCode: { VALID: 1, REVOKED: 1 } },
      ],
    });
  });

  it("answers whole days at both ends with granularity=day, wherever from and to cut them", async () => {
    const response = await usage(
      "?granularity=day&from=2026-11-27T05:00:00.000Z&to=2026-11-28T01:00:00.000Z",
    );
    expect(response.body).toStrictEqual({
      data: [
        {
          time: "2026-11-27T00:00:00.000Z",
          valid: 3,
          invalid: 1,
          byCode: { VALID: 3, INSUFFICIENT_SCOPES: 1 },
        },
        { time: "2026-11-28T00:00:00.000Z", valid: 1, invalid: 1, byCode: { VALID: 1, REVOKED: 1 } },
      ],
    });
  });

  it("includes from and excludes to", async () => {
    const hours = async (from: string, to: string) =>
      (await usage(`?granularity=hour&from=${from}&to=${to}`)).body.data.map(
        (bucket: { time: string }) => bucket.time,
      );
    expect(await hours("2026-11-27T06:00:00.000Z", "2026-11-28T01:00:00.000Z")).toStrictEqual([
      "2026-11-27T06:00:00.000Z",
    ]);
    expect(await hours("2026-11-27T04:00:00.000Z", "2026-11-27T06:00:00.000Z")).toStrictEqual([
      "2026-11-27T04:00:00.000Z",
    ]);
    expect(await hours("2026-11-27T05:00:00.000Z", "2026-11-27T06:00:00.000Z")).toStrictEqual([]);
  });

  it("defaults to the last 24 hours by hour", async () => {
    clock.set("2026-11-28T05:00:00.000Z");
    const response = await usage("");
    expect(response.body.data.map((bucket: { time: string }) => bucket.time)).toStrictEqual([
      "2026-11-27T06:00:00.000Z",
      "2026-11-28T01:00:00.000Z",
    ]);
  });

  it("defaults to the last 30 days by day", async () => {
    clock.set("2026-12-27T12:00:00.000Z");
    expect((await usage("?granularity=day")).body.data).toHaveLength(2);
    clock.set("2026-12-28T00:00:00.000Z");
    const response = await usage("?granularity=day");
    expect(response.body.data.map((bucket: { time: string }) => bucket.time)).toStrictEqual([
      "2026-11-28T00:00:00.000Z",
    ]);
  });

  it("accepts at most 31 days by hour and 366 days by day", async () => {
    const ok = [
      "?granularity=hour&from=2026-10-28T02:00:00.000Z&to=2026-11-28T02:00:00.000Z",
      "?granularity=day&from=2025-11-27T00:00:00.000Z&to=2026-11-28T00:00:00.000Z",
    ];
    for (const query of ok) expect((await usage(query)).status, query).toBe(200);
    const tooLong = [
      "?granularity=hour&from=2026-10-28T01:59:59.999Z&to=2026-11-28T02:00:00.000Z",
      "?granularity=day&from=2025-11-26T23:59:59.999Z&to=2026-11-28T00:00:00.000Z",
    ];
    for (const query of tooLong) {
      const response = await usage(query);
      expect(response.status, query).toBe(400);
      expect(response.body.code).toBe("VALIDATION_FAILED");
    }
    const errorsOf = async (query: string) => (await usage(query)).body.errors;
    expect(await errorsOf(tooLong[0] as string)).toStrictEqual([
      { path: "to", message: "an hourly series spans at most 31 days" },
    ]);
    expect(await errorsOf(tooLong[1] as string)).toStrictEqual([
      { path: "to", message: "a daily series spans at most 366 days" },
    ]);
    // `from` alone reaches back from now (2026-11-28T02:00Z): the field sent is the one named.
    expect(await errorsOf("?granularity=hour&from=2026-10-28T01:59:59.999Z")).toStrictEqual([
      { path: "from", message: "an hourly series spans at most 31 days" },
    ]);
  });

  it("answers 400 when from is not before to, or a time is not ISO 8601", async () => {
    expectValidationErrors(await usage("?from=2026-11-27T04:00:00.000Z&to=2026-11-27T04:00:00.000Z"), [
      "from",
    ]);
    expectValidationErrors(await usage("?from=2026-11-27T05:00:00.000Z&to=2026-11-27T04:00:00.000Z"), [
      "from",
    ]);
    expectValidationErrors(await usage("?from=yesterday"), ["from"]);
    expectValidationErrors(await usage("?to=2026-11-27"), ["to"]);
    expectValidationErrors(await usage("?granularity=minute"), ["granularity"]);
  });

  it("takes from alone up to now, and to alone back by the default span", async () => {
    const hours = async (query: string) =>
      (await usage(query)).body.data.map((bucket: { time: string }) => bucket.time);
    // now is 2026-11-28T02:00Z
    expect(await hours("?from=2026-11-27T05:00:00.000Z")).toStrictEqual([
      "2026-11-27T06:00:00.000Z",
      "2026-11-28T01:00:00.000Z",
    ]);
    expect(await hours("?to=2026-11-28T01:00:00.000Z")).toStrictEqual([
      "2026-11-27T04:00:00.000Z",
      "2026-11-27T06:00:00.000Z",
    ]);
    expect(await hours("?to=2026-11-28T05:00:00.000Z")).toStrictEqual([
      "2026-11-27T06:00:00.000Z",
      "2026-11-28T01:00:00.000Z",
    ]);
    expect((await usage("?granularity=day&to=2026-11-28T00:00:00.000Z")).body.data).toStrictEqual([
      {
        time: "2026-11-27T00:00:00.000Z",
        valid: 3,
        invalid: 1,
        byCode: { VALID: 3, INSUFFICIENT_SCOPES: 1 },
      },
    ]);
  });

  it("counts every code a found key gets, as the metrics do", async () => {
    clock.set("2026-11-28T03:00:00.000Z");
    const counted = await keyWith(t, {
      scopes: ["read"],
      remaining: 1,
      ratelimit: { limit: 1, durationMs: 1_000 },
    });
    const codes: string[] = [];
    const check = async (body: Record<string, unknown> = {}) =>
      codes.push((await verify(t, { key: counted.key, ...body })).code);
    await check(); // VALID, the one credit spent
    await check(); // RATE_LIMITED, in the same second
    clock.advance(1_000);
    await check(); // USAGE_EXCEEDED
    await check({ scopes: ["write"] }); // INSUFFICIENT_SCOPES
    await t.call("PATCH", `/v1/keys/${counted.id}`, { body: { enabled: false } });
    await check(); // DISABLED
    await t.call("PATCH", `/v1/keys/${counted.id}`, {
      body: { enabled: true, expiresAt: "2026-11-28T03:00:02.000Z" },
    });
    clock.advance(1_000);
    await check(); // EXPIRED
    await t.call("POST", `/v1/keys/${counted.id}/revoke`);
    await check(); // REVOKED
    expect(codes).toEqual([
      "VALID",
      "RATE_LIMITED",
      "USAGE_EXCEEDED",
      "INSUFFICIENT_SCOPES",
      "DISABLED",
      "EXPIRED",
      "REVOKED",
    ]);
    const byCode = Object.fromEntries(codes.filter((code) => code !== "VALID").map((code) => [code, 1]));
    const response = await t.call("GET", `/v1/keys/${counted.id}/usage`);
    expect(response.body).toStrictEqual({
      data: [{ time: "2026-11-28T03:00:00.000Z", valid: 1, invalid: 6, byCode: { VALID: 1, ...byCode } }],
    });
    const metrics = await (await t.app.request("/metrics")).text();
    for (const code of Object.keys(byCode)) {
      const expected = code === "REVOKED" || code === "INSUFFICIENT_SCOPES" ? 2 : 1; // the beforeEach's too
      expect(sample(metrics, "keymint_verifications_total", { code }), code).toBe(expected);
    }
  });

  it("answers 404 for another workspace's key and for an unknown key", async () => {
    const otherRootKey = (await createWorkspace(t)).rootKey;
    const foreign = await usage("", otherRootKey);
    expect(foreign.status).toBe(404);
    expect(foreign.body.code).toBe("NOT_FOUND");
    expect((await t.call("GET", "/v1/keys/key_000000000000/usage")).status).toBe(404);
  });
});

describe("lastUsedAt and writes on the request path", () => {
  let t: TestApp;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  async function lastUsedAtOf(id: string) {
    return (await t.call("GET", `/v1/keys/${id}`)).body.lastUsedAt;
  }

  it("records lastUsedAt for VALID calls only, visible on GET right after", async () => {
    const created = await keyWith(t, { scopes: ["read"], remaining: 1 });
    expect(created.lastUsedAt).toBeNull();
    await verify(t, { key: created.key, scopes: ["admin"] });
    expect(await lastUsedAtOf(created.id)).toBeNull();
    clock.set("2026-11-27T05:00:00.000Z");
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    expect(await lastUsedAtOf(created.id)).toBe("2026-11-27T05:00:00.000Z");
    clock.set("2026-11-27T06:00:00.000Z");
    expect((await verify(t, { key: created.key })).code).toBe("USAGE_EXCEEDED");
    expect(await lastUsedAtOf(created.id)).toBe("2026-11-27T05:00:00.000Z");
  });

  it("stores no lastUsedAt for a refused call: none after an EXPIRED, before and after the usage flush", async () => {
    const created = await keyWith(t, { expiresAt: new Date(clock.now() + 1_000).toISOString() });
    clock.advance(2_000);
    expect((await verify(t, { key: created.key })).code).toBe("EXPIRED");
    expect(await lastUsedAtOf(created.id)).toBeNull();
    await t.deps.usage.flushAll();
    expect(await lastUsedAtOf(created.id)).toBeNull();
  });

  it("answers every VALID call's time as lastUsedAt, but writes it at most once a minute while the key is in use", async () => {
    const created = await keyWith(t);
    const stored = () =>
      (
        t.db.$client.prepare("SELECT last_used_at AS at FROM keys WHERE id = ?").get(created.id) as {
          at: number;
        }
      ).at;
    clock.set("2026-11-27T05:00:00.000Z");
    await verify(t, { key: created.key });
    expect(await lastUsedAtOf(created.id)).toBe("2026-11-27T05:00:00.000Z");
    clock.set("2026-11-27T05:00:02.000Z");
    await verify(t, { key: created.key });
    expect(await lastUsedAtOf(created.id)).toBe("2026-11-27T05:00:02.000Z");
    await t.deps.usage.flush();
    expect(stored()).toBe(Date.parse("2026-11-27T05:00:00.000Z"));
    // Written again once the last write is a minute old…
    clock.set("2026-11-27T05:01:00.000Z");
    await verify(t, { key: created.key });
    await t.deps.usage.flush();
    expect(stored()).toBe(Date.parse("2026-11-27T05:01:00.000Z"));
    // …and a record loaded afresh (here after an update) times that from the last write, not the last use.
    clock.set("2026-11-27T05:01:30.000Z");
    await verify(t, { key: created.key });
    await t.call("PATCH", `/v1/keys/${created.id}`, { body: { name: "renamed" } });
    const recordVerification = vi.spyOn(t.deps.usage, "recordVerification");
    clock.set("2026-11-27T05:01:45.000Z");
    await verify(t, { key: created.key });
    expect(recordVerification).toHaveBeenLastCalledWith(created.id, "VALID", clock.now(), false);
    expect(await lastUsedAtOf(created.id)).toBe("2026-11-27T05:01:45.000Z");
    // A key idle for a minute gets its latest use written.
    await t.deps.usage.flush();
    expect(stored()).toBe(Date.parse("2026-11-27T05:01:00.000Z"));
    clock.set("2026-11-27T05:02:45.000Z");
    await t.deps.usage.flush();
    expect(stored()).toBe(Date.parse("2026-11-27T05:01:45.000Z"));
    expect(await lastUsedAtOf(created.id)).toBe("2026-11-27T05:01:45.000Z");
  });

  it("writes nothing to the database while verifying a key without credits, until the usage flush", async () => {
    const created = await keyWith(t, { scopes: ["read"], ratelimit: { limit: 2, durationMs: 60_000 } });
    const recordUsage = vi.spyOn(t.deps.repos.keys, "recordUsage");
    const spendCredits = vi.spyOn(t.deps.repos.keys, "spendCredits");
    const before = totalChanges(t);
    const codes = [];
    for (const scopes of [undefined, ["admin"], undefined, undefined]) {
      codes.push((await verify(t, { key: created.key, scopes })).code);
    }
    expect(codes).toStrictEqual(["VALID", "INSUFFICIENT_SCOPES", "VALID", "RATE_LIMITED"]);
    expect(totalChanges(t), "rows changed on the request path").toBe(before);
    expect(recordUsage).not.toHaveBeenCalled();
    expect(spendCredits).not.toHaveBeenCalled();

    await t.deps.usage.flush();
    expect(recordUsage).toHaveBeenCalledTimes(1);
    expect(totalChanges(t)).toBeGreaterThan(before);
  });

  it("shows a verify's lastUsedAt in the key that PATCH, revoke and rotate answer right after", async () => {
    clock.set("2026-11-27T05:00:00.000Z");
    const used = "2026-11-27T05:00:00.000Z";
    const patched = await keyWith(t);
    const revoked = await keyWith(t);
    const rotated = await keyWith(t);
    for (const created of [patched, revoked, rotated]) {
      expect((await verify(t, { key: created.key })).code).toBe("VALID");
    }
    clock.advance(1_000);
    const patch = await t.call("PATCH", `/v1/keys/${patched.id}`, { body: { name: "renamed" } });
    expect(patch.body.lastUsedAt).toBe(used);
    const revoke = await t.call("POST", `/v1/keys/${revoked.id}/revoke`, { body: {} });
    expect(revoke.body.lastUsedAt).toBe(used);
    const rotate = await t.call("POST", `/v1/keys/${rotated.id}/rotate`, {
      body: { gracePeriodSeconds: 60 },
    });
    expect(rotate.status).toBe(201);
    expect(rotate.body.lastUsedAt).toBeNull();
    expect(await lastUsedAtOf(rotated.id)).toBe(used);
  });

  it("writes nothing when keys are read, and shows the verify use still buffered", async () => {
    const created = await keyWith(t);
    await t.deps.usage.flush();
    const recordUsage = vi.spyOn(t.deps.repos.keys, "recordUsage");
    const recordRootKeyUse = vi.spyOn(t.deps.repos.rootKeys, "recordLastUsed");
    const before = totalChanges(t);
    clock.advance(60_000);
    await verify(t, { key: created.key });
    const used = new Date(clock.now()).toISOString();
    // Each read also records its root key's use; that row waits for the usage flush like a verify's.
    for (let i = 0; i < 3; i++) {
      const listed = await t.call("GET", "/v1/keys");
      expect(listed.body.data.find((key: { id: string }) => key.id === created.id).lastUsedAt).toBe(used);
      expect(await lastUsedAtOf(created.id)).toBe(used);
      const rootKeys = await t.call("GET", "/v1/root-keys");
      expect(rootKeys.body.data.find((key: { id: string }) => key.id === t.rootKeyId).lastUsedAt).toBe(used);
    }
    expect(totalChanges(t), "rows changed by reads").toBe(before);
    expect(recordUsage).not.toHaveBeenCalled();
    expect(recordRootKeyUse).not.toHaveBeenCalled();
  });

  it("spends credits with one write per VALID call", async () => {
    const created = await keyWith(t, { remaining: 5 });
    const before = totalChanges(t);
    await verify(t, { key: created.key });
    await verify(t, { key: created.key });
    expect(totalChanges(t)).toBe(before + 2);
  });

  it("keeps counting a key's usage when it is verified by an owner-bound root key", async () => {
    const keyspace = await createKeyspace(t);
    const bound = await t.call("POST", "/v1/root-keys", {
      body: { name: "customer", permissions: ["keys:verify", "keys:write", "keys:read"], ownerId: "user_1" },
    });
    const created = await createKey(t, { keyspaceId: keyspace.id }, bound.body.key);
    expect((await verify(t, { key: created.key }, bound.body.key)).code).toBe("VALID");
    clock.advance(1);
    const response = await t.call("GET", `/v1/keys/${created.id}/usage`, { token: bound.body.key });
    expect(response.body.data).toStrictEqual([
      { time: "2026-11-27T04:00:00.000Z", valid: 1, invalid: 0, byCode: { VALID: 1 } },
    ]);
  });
  it("counts nothing for a forged key naming a real key's id: NOT_FOUND calls are not the key's usage", async () => {
    const created = await keyWith(t);
    // Past the hour's first instant: the default window ends at the start of the current hour.
    clock.advance(60_000);
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    const head = `${created.key.slice(0, -38)}${"7".repeat(32)}`;
    expect(await verify(t, { key: head + checksumOf(head) })).toStrictEqual({
      valid: false,
      code: "NOT_FOUND",
    });
    clock.advance(1);
    const response = await t.call("GET", `/v1/keys/${created.id}/usage`);
    expect(response.body.data).toStrictEqual([
      { time: "2026-11-27T04:00:00.000Z", valid: 1, invalid: 0, byCode: { VALID: 1 } },
    ]);
  });
});
