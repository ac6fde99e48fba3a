import { beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../../src/app.js";
import { createDeps } from "../../../src/deps.js";
import {
  createKey,
  createKeyspace,
  createTestApp,
  ManualClock,
  type TestApp,
  verify,
} from "../../helpers.js";
import { expectProblem, expectStatus } from "../../support/api.js";
import { betweenCheckAndWrite } from "../../support/verify.js";

const NOW = "2026-11-27T04:00:00.000Z";

describe("keys: create", () => {
  let clock: ManualClock;
  let t: TestApp;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
  });

  it("creates a key with every field at its default and returns the plaintext once", async () => {
    const keyspace = await createKeyspace(t);
    const response = await t.call("POST", "/v1/keys", { body: { keyspaceId: keyspace.id } });
    expectStatus(response, 201);
    const { key, ...rest } = response.body;
    expect(key).toMatch(new RegExp(`^${keyspace.prefix}_[0-9A-Za-z]{50}$`));
    const keyId = key.slice(keyspace.prefix.length + 1, keyspace.prefix.length + 13);
    expect(rest).toEqual({
      id: `key_${keyId}`,
      keyspaceId: keyspace.id,
      workspaceId: t.workspace.id,
      ownerId: null,
      name: null,
      start: `${keyspace.prefix}_${keyId}`,
      last4: key.slice(-4),
      meta: {},
      scopes: [],
      enabled: true,
      createdAt: NOW,
      updatedAt: NOW,
      expiresAt: null,
      revokedAt: null,
      revokedReason: null,
      lastUsedAt: null,
      remaining: null,
      refill: null,
      ratelimit: null,
      rotatedFromId: null,
      replacedById: null,
    });
  });

  it("creates a key with every field given", async () => {
    const keyspace = await createKeyspace(t);
    const body = {
      keyspaceId: keyspace.id,
      ownerId: "customer_42",
      name: "production backend",
      meta: { plan: "pro", seats: 3, nested: { ok: true } },
      scopes: ["documents:read", "documents:write"],
      expiresAt: "2026-12-27T04:00:00.000Z",
      remaining: 7,
      refill: { amount: 100, interval: "monthly" },
      ratelimit: { limit: 10, durationMs: 60_000 },
      enabled: false,
    };
    const response = await t.call("POST", "/v1/keys", { body });
    expectStatus(response, 201);
    const { keyspaceId: _, ...fields } = body;
    expect(response.body).toMatchObject({ ...fields, keyspaceId: keyspace.id });
  });

  it("fills the fields a request leaves out from the keyspace's defaults", async () => {
    const keyspace = await createKeyspace(t, {
      defaults: {
        expiresInSeconds: 3600,
        remaining: 50,
        refill: { amount: 100, interval: "daily" },
        ratelimit: { limit: 5, durationMs: 1000 },
        scopes: ["documents:read"],
      },
    });
    const response = await t.call("POST", "/v1/keys", { body: { keyspaceId: keyspace.id } });
    expectStatus(response, 201);
    expect(response.body).toMatchObject({
      expiresAt: "2026-11-27T05:00:00.000Z",
      remaining: 50,
      refill: { amount: 100, interval: "daily" },
      ratelimit: { limit: 5, durationMs: 1000 },
      scopes: ["documents:read"],
    });
  });

  it("lets the request's own fields, null included, win over the keyspace's defaults", async () => {
    const keyspace = await createKeyspace(t, {
      defaults: {
        expiresInSeconds: 3600,
        remaining: 50,
        ratelimit: { limit: 5, durationMs: 1000 },
        scopes: ["documents:read"],
      },
    });
    const response = await t.call("POST", "/v1/keys", {
      body: { keyspaceId: keyspace.id, expiresAt: null, remaining: 3, ratelimit: null, scopes: [] },
    });
    expectStatus(response, 201);
    expect(response.body).toMatchObject({ expiresAt: null, remaining: 3, ratelimit: null, scopes: [] });
  });

  it("starts a key created with a refill and no remaining at refill.amount", async () => {
    const keyspace = await createKeyspace(t);
    const key = await createKey(t, { keyspaceId: keyspace.id, refill: { amount: 25, interval: "daily" } });
    expect(key.remaining).toBe(25);
  });

  it("makes a key unlimited when a patch clears both remaining and refill, and starts a new refill full over remaining: null", async () => {
    const keyspace = await createKeyspace(t);
    const key = await createKey(t, {
      keyspaceId: keyspace.id,
      remaining: 3,
      refill: { amount: 5, interval: "daily" },
    });
    const cleared = await t.call("PATCH", `/v1/keys/${key.id}`, { body: { remaining: null, refill: null } });
    expectStatus(cleared, 200);
    expect(cleared.body).toMatchObject({ remaining: null, refill: null });
    const refilled = await t.call("PATCH", `/v1/keys/${key.id}`, {
      body: { remaining: null, refill: { amount: 8, interval: "monthly" } },
    });
    expectStatus(refilled, 200);
    expect(refilled.body).toMatchObject({ remaining: 8, refill: { amount: 8, interval: "monthly" } });
  });

  it("starts a key at the default refill's amount when neither it nor its keyspace sets remaining", async () => {
    const keyspace = await createKeyspace(t, { defaults: { refill: { amount: 40, interval: "monthly" } } });
    const key = await createKey(t, { keyspaceId: keyspace.id });
    expect(key).toMatchObject({ remaining: 40, refill: { amount: 40, interval: "monthly" } });
  });

  it("accepts every limit at its boundary", async () => {
    const keyspace = await createKeyspace(t);
    // {"m":"…"} is 8 bytes of JSON around the value.
    const meta = { m: "x".repeat(4096 - 8) };
    const response = await t.call("POST", "/v1/keys", {
      body: {
        keyspaceId: keyspace.id,
        name: "n".repeat(128),
        ownerId: "o".repeat(256),
        meta,
        scopes: Array.from({ length: 100 }, (_, i) => `s${i}:${"x".repeat(60 - String(i).length)}`),
        remaining: 2 ** 31,
        refill: { amount: 2 ** 31, interval: "daily" },
        ratelimit: { limit: 1, durationMs: 86_400_000 },
      },
    });
    expectStatus(response, 201);
    expect(response.body.scopes).toHaveLength(100);
    expect(response.body.remaining).toBe(2 ** 31);
    expect(response.body.refill.amount).toBe(2 ** 31);
    const shortest = await t.call("POST", "/v1/keys", {
      body: { keyspaceId: keyspace.id, remaining: 0, ratelimit: { limit: 1, durationMs: 1000 } },
    });
    expectStatus(shortest, 201);
    const latest = await t.call("POST", "/v1/keys", {
      body: { keyspaceId: keyspace.id, expiresAt: "9999-12-31T23:59:59.999Z" },
    });
    expectStatus(latest, 201);
    expect(latest.body.expiresAt).toBe("9999-12-31T23:59:59.999Z");
  });

  it.each([
    ["an offset", "2027-01-01T02:00:00+02:00", "2027-01-01T00:00:00.000Z"],
    ["no milliseconds", "2027-01-01T00:00:00Z", "2027-01-01T00:00:00.000Z"],
    ["a fraction of a second", "2027-01-01T00:00:00.5Z", "2027-01-01T00:00:00.500Z"],
  ])("takes an expiresAt with %s and answers it in UTC with milliseconds", async (_, given, answered) => {
    const keyspace = await createKeyspace(t);
    const created = await t.call("POST", "/v1/keys", { body: { keyspaceId: keyspace.id, expiresAt: given } });
    expectStatus(created, 201);
    expect(created.body.expiresAt).toBe(answered);
    expect((await t.call("GET", `/v1/keys/${created.body.id}`)).body.expiresAt).toBe(answered);
    expect((await verify(t, { key: created.body.key })).expiresAt).toBe(answered);
  });

  it("issues keys under the longest prefix the contract allows, which verify and the scanner regex both take", async () => {
    const prefix = `a${"b".repeat(15)}_${"c".repeat(16)}`;
    const keyspace = await createKeyspace(t, { prefix });
    const created = await createKey(t, { keyspaceId: keyspace.id });
    expect(created.key).toMatch(new RegExp(`^${prefix}_[0-9A-Za-z]{50}$`));
    expect(created.start).toBe(`${prefix}_${created.key.slice(prefix.length + 1, prefix.length + 13)}`);
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    const scanner = /\b[a-z][a-z0-9]{0,15}(?:_[a-z0-9]{1,16})?_[0-9A-Za-z]{50}\b/; // contract §1, verbatim
    expect(scanner.exec(`token=${created.key};`)?.[0]).toBe(created.key);
  });

  it("takes any ratelimit.limit from 1 up (contract §3 sets no maximum), to the largest exact JSON integer", async () => {
    const keyspace = await createKeyspace(t);
    const limit = Number.MAX_SAFE_INTEGER;
    const key = await createKey(t, { keyspaceId: keyspace.id, ratelimit: { limit, durationMs: 1000 } });
    expect(key.ratelimit).toEqual({ limit, durationMs: 1000 });
    expect(await verify(t, { key: key.key })).toMatchObject({
      code: "VALID",
      ratelimit: { limit, remaining: limit - 1 },
    });
  });

  it("issues a key of an argon2id keyspace that verifies", async () => {
    const keyspace = await createKeyspace(t, { hashAlgorithm: "argon2id" });
    const key = await createKey(t, { keyspaceId: keyspace.id });
    const verified = await t.call("POST", "/v1/keys/verify", { body: { key: key.key } });
    expect(verified.body).toMatchObject({ valid: true, code: "VALID", keyId: key.id });
  });
});

describe("keys: list", () => {
  let clock: ManualClock;
  let t: TestApp;
  let keyspaceId: string;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
    keyspaceId = (await createKeyspace(t)).id;
  });

  const ids = (body: { data: { id: string }[] }) => body.data.map((key) => key.id);

  async function keysInEveryStatus() {
    const expiring = await createKey(t, { keyspaceId, expiresAt: "2026-11-27T04:00:10.000Z" });
    const revoked = await createKey(t, { keyspaceId });
    await t.call("POST", `/v1/keys/${revoked.id}/revoke`);
    const disabled = await createKey(t, { keyspaceId, enabled: false });
    const active = await createKey(t, { keyspaceId });
    const revokedAndExpiring = await createKey(t, { keyspaceId, expiresAt: "2026-11-27T04:00:10.000Z" });
    await t.call("POST", `/v1/keys/${revokedAndExpiring.id}/revoke`);
    clock.advance(10_000);
    return { expiring, revoked, disabled, active, revokedAndExpiring };
  }

  it("lists active keys by default (disabled ones included), newest first", async () => {
    const keys = await keysInEveryStatus();
    const response = await t.call("GET", "/v1/keys");
    expectStatus(response, 200);
    expect(ids(response.body)).toEqual([keys.active.id, keys.disabled.id]);
    expect(response.body.nextCursor).toBeNull();
  });

  it("lists revoked keys with status=revoked, expired or not", async () => {
    const keys = await keysInEveryStatus();
    const response = await t.call("GET", "/v1/keys?status=revoked");
    expect(ids(response.body)).toEqual([keys.revokedAndExpiring.id, keys.revoked.id]);
  });

  it("lists keys past expiresAt (and not revoked) with status=expired, from the moment now = expiresAt", async () => {
    const keys = await keysInEveryStatus();
    const response = await t.call("GET", "/v1/keys?status=expired");
    expect(ids(response.body)).toEqual([keys.expiring.id]);
  });

  it("lists every key with status=all", async () => {
    const keys = await keysInEveryStatus();
    const response = await t.call("GET", "/v1/keys?status=all");
    expect(ids(response.body)).toEqual([
      keys.revokedAndExpiring.id,
      keys.active.id,
      keys.disabled.id,
      keys.revoked.id,
      keys.expiring.id,
    ]);
  });

  it("filters by keyspaceId and by ownerId", async () => {
    const otherKeyspace = (await createKeyspace(t)).id;
    const a = await createKey(t, { keyspaceId, ownerId: "alice" });
    const b = await createKey(t, { keyspaceId: otherKeyspace, ownerId: "alice" });
    const c = await createKey(t, { keyspaceId, ownerId: "bob" });
    expect(ids((await t.call("GET", `/v1/keys?keyspaceId=${keyspaceId}`)).body)).toEqual([c.id, a.id]);
    expect(ids((await t.call("GET", "/v1/keys?ownerId=alice")).body)).toEqual([b.id, a.id]);
    expect(ids((await t.call("GET", `/v1/keys?ownerId=alice&keyspaceId=${keyspaceId}`)).body)).toEqual([
      a.id,
    ]);
    expect(ids((await t.call("GET", "/v1/keys?ownerId=nobody")).body)).toEqual([]);
    expect(ids((await t.call("GET", `/v1/keys?keyspaceId=${otherKeyspace}`)).body)).toEqual([b.id]);
    expect(ids((await t.call("GET", `/v1/keys?ownerId=bob&keyspaceId=${otherKeyspace}`)).body)).toEqual([]);
  });

  it("answers the same list query anew as time passes: a key moves from active to expired", async () => {
    const expiring = await createKey(t, { keyspaceId, expiresAt: "2026-11-27T04:00:10.000Z" });
    const lasting = await createKey(t, { keyspaceId });
    const listed = async (query: string) => ids((await t.call("GET", `/v1/keys?${query}`)).body);
    expect(await listed("status=active")).toEqual([lasting.id, expiring.id]);
    expect(await listed("status=expired")).toEqual([]);
    clock.advance(10_000);
    expect(await listed("status=active")).toEqual([lasting.id]);
    expect(await listed("status=expired")).toEqual([expiring.id]);
  });

  it("pages exactly through keys created within one millisecond: no duplicates, no gaps, newest first", async () => {
    const created: string[] = [];
    for (let i = 0; i < 7; i++) created.push((await createKey(t, { keyspaceId })).id);
    const seen: string[] = [];
    const pages: number[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
      const response = await t.call("GET", `/v1/keys?limit=3${query}`);
      expectStatus(response, 200);
      seen.push(...ids(response.body));
      pages.push(response.body.data.length);
      cursor = response.body.nextCursor;
    } while (cursor !== null);
    expect(pages).toEqual([3, 3, 1]);
    expect(seen).toEqual([...created].reverse());
  });

  it("keeps createdAt in list order when an argon2id create, started first, is stored after a sha256 one", async () => {
    // A clock that moves on every read, so each create gets its own createdAt.
    let ms = Date.parse(NOW);
    const ticking = await createTestApp({ clock: { now: () => ms++ } });
    const slow = await createKeyspace(ticking, { hashAlgorithm: "argon2id" });
    const fast = await createKeyspace(ticking);
    // The argon2id create starts first; the sha256 one, started after it, is stored before it.
    const [argon2Key, sha256Key] = await Promise.all([
      createKey(ticking, { keyspaceId: slow.id }),
      createKey(ticking, { keyspaceId: fast.id }),
    ]);
    const listed = (await ticking.call("GET", "/v1/keys")).body.data;
    expect(listed.map((key: { id: string }) => key.id)).toEqual([argon2Key.id, sha256Key.id]);
    expect(Date.parse(listed[0].createdAt)).toBeGreaterThan(Date.parse(listed[1].createdAt));
    const events = (await ticking.call("GET", "/v1/audit-events?action=key.create")).body.data;
    expect(events.map((event: { resourceId: string }) => event.resourceId)).toEqual([
      argon2Key.id,
      sha256Key.id,
    ]);
    expect(Date.parse(events[0].time)).toBeGreaterThan(Date.parse(events[1].time));
  });

  it("keeps createdAt in list order when a rotation is written while an earlier create waits for its commit", async () => {
    let ms = Date.parse(NOW);
    const ticking = await createTestApp({ clock: { now: () => ms++ } });
    const keyspace = await createKeyspace(ticking);
    const old = await createKey(ticking, { keyspaceId: keyspace.id });
    // The create reads the clock first (the rotation has more to look up before it does).
    const [created, rotated] = await Promise.all([
      createKey(ticking, { keyspaceId: keyspace.id }),
      ticking.call("POST", `/v1/keys/${old.id}/rotate`, { body: { gracePeriodSeconds: 60 } }),
    ]);
    expectStatus(rotated, 201);
    expect(Date.parse(rotated.body.createdAt)).toBeGreaterThan(Date.parse(String(created.createdAt)));
    const listed = (await ticking.call("GET", "/v1/keys?status=all")).body.data;
    expect(listed.map((key: { id: string }) => key.id)).toEqual([rotated.body.id, created.id, old.id]);
    const events = (await ticking.call("GET", "/v1/audit-events")).body.data;
    const times = events.map((event: { time: string }) => Date.parse(event.time));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(events.slice(0, 2).map((event: { action: string }) => event.action)).toEqual([
      "key.rotate",
      "key.create",
    ]);
  });

  it("answers a null nextCursor when the last page is exactly full", async () => {
    for (let i = 0; i < 4; i++) await createKey(t, { keyspaceId });
    const first = await t.call("GET", "/v1/keys?limit=2");
    const second = await t.call("GET", `/v1/keys?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.data).toHaveLength(2);
    expect(second.body.nextCursor).toBeNull();
  });

  it("keeps paging exactly when keys are created between pages", async () => {
    const created: string[] = [];
    for (let i = 0; i < 4; i++) created.push((await createKey(t, { keyspaceId })).id);
    const first = await t.call("GET", "/v1/keys?limit=2");
    await createKey(t, { keyspaceId });
    const second = await t.call("GET", `/v1/keys?limit=2&cursor=${first.body.nextCursor}`);
    expect([...ids(first.body), ...ids(second.body)]).toEqual([...created].reverse());
  });

  it("takes a cursor handed out before a restart: the next page follows on the same database", async () => {
    const created = [];
    for (let i = 0; i < 3; i++) created.push(await createKey(t, { keyspaceId }));
    const first = await t.call("GET", "/v1/keys?limit=2");
    expectStatus(first, 200);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    // The process starts again on the same database (another AppDeps, as src/index.ts builds at start).
    const restarted = createApp(await createDeps({ db: t.db, clock, config: { LOG_LEVEL: "silent" } }));
    const next = await restarted.request(
      `/v1/keys?limit=2&cursor=${encodeURIComponent(first.body.nextCursor)}`,
      {
        headers: { authorization: `Bearer ${t.rootKey}` },
      },
    );
    expect(next.status, await next.clone().text()).toBe(200);
    const body = (await next.json()) as { data: { id: string }[]; nextCursor: string | null };
    expect([...ids(first.body), ...ids(body)]).toEqual(created.map((key) => key.id).reverse());
    expect(body.nextCursor).toBeNull();
  });

  it("answers pages of 50 by default", async () => {
    for (let i = 0; i < 51; i++) await createKey(t, { keyspaceId });
    const response = await t.call("GET", "/v1/keys");
    expect(response.body.data).toHaveLength(50);
    expect(response.body.nextCursor).toEqual(expect.any(String));
    const rest = await t.call("GET", `/v1/keys?cursor=${response.body.nextCursor}`);
    expect(rest.body.data).toHaveLength(1);
    expect(rest.body.nextCursor).toBeNull();
  });

  it("pages within a status filter", async () => {
    const active: string[] = [];
    for (let i = 0; i < 3; i++) {
      active.push((await createKey(t, { keyspaceId })).id);
      const revoked = await createKey(t, { keyspaceId });
      await t.call("POST", `/v1/keys/${revoked.id}/revoke`);
    }
    const first = await t.call("GET", "/v1/keys?limit=2&status=active");
    const second = await t.call("GET", `/v1/keys?limit=2&status=active&cursor=${first.body.nextCursor}`);
    expect([...ids(first.body), ...ids(second.body)]).toEqual([...active].reverse());
    expect(second.body.nextCursor).toBeNull();
  });
});

describe("keys: get and update", () => {
  let clock: ManualClock;
  let t: TestApp;
  let keyspaceId: string;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
    keyspaceId = (await createKeyspace(t)).id;
  });

  it("changes nothing on a patch naming no field: no updatedAt, no audit event", async () => {
    const { key: _, ...created } = await createKey(t, { keyspaceId, name: "ci" });
    clock.advance(60_000);
    const response = await t.call("PATCH", `/v1/keys/${created.id}`, { body: {} });
    expectStatus(response, 200);
    expect(response.body).toEqual(created);
    const events = await t.call("GET", `/v1/audit-events?resourceId=${created.id}`);
    expect(events.body.data.map((event: { action: string }) => event.action)).toEqual(["key.create"]);
  });

  it("gets a key: the creation response without the plaintext", async () => {
    const { key: _, ...created } = await createKey(t, { keyspaceId, name: "ci", meta: { a: 1 } });
    const response = await t.call("GET", `/v1/keys/${created.id}`);
    expectStatus(response, 200);
    expect(response.body).toEqual(created);
  });

  it("updates every field and moves updatedAt", async () => {
    const created = await createKey(t, { keyspaceId });
    clock.advance(5_000);
    const changes = {
      name: "renamed",
      ownerId: "customer_7",
      meta: { plan: "team" },
      scopes: ["a", "b"],
      expiresAt: "2027-01-01T00:00:00.000Z",
      remaining: 9,
      refill: { amount: 20, interval: "daily" },
      ratelimit: { limit: 3, durationMs: 2000 },
      enabled: false,
    };
    const response = await t.call("PATCH", `/v1/keys/${created.id}`, { body: changes });
    expectStatus(response, 200);
    expect(response.body).toMatchObject({
      ...changes,
      createdAt: NOW,
      updatedAt: "2026-11-27T04:00:05.000Z",
    });
    expect((await t.call("GET", `/v1/keys/${created.id}`)).body).toEqual(response.body);
  });

  it("clears every nullable field given null", async () => {
    const created = await createKey(t, {
      keyspaceId,
      name: "ci",
      ownerId: "customer_1",
      expiresAt: "2027-01-01T00:00:00.000Z",
      remaining: 5,
      refill: { amount: 5, interval: "daily" },
      ratelimit: { limit: 1, durationMs: 1000 },
    });
    const response = await t.call("PATCH", `/v1/keys/${created.id}`, {
      body: { name: null, ownerId: null, expiresAt: null, remaining: null, refill: null, ratelimit: null },
    });
    expectStatus(response, 200);
    expect(response.body).toMatchObject({
      name: null,
      ownerId: null,
      expiresAt: null,
      remaining: null,
      refill: null,
      ratelimit: null,
    });
    // The answer would read ratelimit null with either half of the rule left: the row shows what is stored.
    const row = await t.deps.repos.keys.findById(created.id);
    expect([row?.ratelimitLimit, row?.ratelimitDurationMs]).toEqual([null, null]);
  });

  it("replaces meta and scopes as a whole rather than merging them", async () => {
    const created = await createKey(t, { keyspaceId, meta: { a: 1, b: 2 }, scopes: ["x", "y"] });
    const response = await t.call("PATCH", `/v1/keys/${created.id}`, {
      body: { meta: { c: 3 }, scopes: ["z"] },
    });
    expect(response.body).toMatchObject({ meta: { c: 3 }, scopes: ["z"] });
    // toMatchObject would take a merged meta: the fields the new value does not hold must be gone.
    expect(response.body.meta).toEqual({ c: 3 });
    expect((await t.call("GET", `/v1/keys/${created.id}`)).body.meta).toEqual({ c: 3 });
    const emptied = await t.call("PATCH", `/v1/keys/${created.id}`, { body: { meta: {} } });
    expect(emptied.status).toBe(200);
    expect(emptied.body.meta).toEqual({});
  });

  it("leaves the fields a patch does not name unchanged", async () => {
    const { key: _, ...created } = await createKey(t, {
      keyspaceId,
      name: "ci",
      meta: { a: 1 },
      scopes: ["x"],
      remaining: 4,
    });
    const response = await t.call("PATCH", `/v1/keys/${created.id}`, { body: { enabled: false } });
    expect(response.body).toEqual({ ...created, enabled: false });
  });
});

describe("keys: rotate, revoke, delete", () => {
  let clock: ManualClock;
  let t: TestApp;
  let keyspaceId: string;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
    keyspaceId = (await createKeyspace(t)).id;
  });

  it("rotates a key: the successor copies its settings and credits, each names the other", async () => {
    const { id: keyspaceId, prefix } = await createKeyspace(t);
    const old = await createKey(t, {
      keyspaceId,
      ownerId: "customer_1",
      name: "ci",
      meta: { a: 1 },
      scopes: ["read"],
      enabled: false,
      expiresAt: "2027-01-01T00:00:00.000Z",
      remaining: 12,
      refill: { amount: 50, interval: "monthly" },
      ratelimit: { limit: 5, durationMs: 1000 },
    });
    clock.advance(1000);
    const response = await t.call("POST", `/v1/keys/${old.id}/rotate`, { body: { gracePeriodSeconds: 60 } });
    expectStatus(response, 201);
    const successor = response.body;
    expect(successor.key).toMatch(new RegExp(`^${prefix}_[0-9A-Za-z]{50}$`));
    expect(successor.id).not.toBe(old.id);
    expect(successor).toMatchObject({
      keyspaceId,
      ownerId: "customer_1",
      name: "ci",
      meta: { a: 1 },
      scopes: ["read"],
      enabled: false,
      expiresAt: "2027-01-01T00:00:00.000Z",
      remaining: 12,
      refill: { amount: 50, interval: "monthly" },
      ratelimit: { limit: 5, durationMs: 1000 },
      rotatedFromId: old.id,
      replacedById: null,
      createdAt: "2026-11-27T04:00:01.000Z",
      revokedAt: null,
      lastUsedAt: null,
    });
    const oldNow = await t.call("GET", `/v1/keys/${old.id}`);
    expect(oldNow.body).toMatchObject({
      replacedById: successor.id,
      expiresAt: "2026-11-27T04:01:01.000Z",
      revokedAt: null,
    });
  });

  describe("a change that lands while the successor's argon2id hash is computed", () => {
    /** Starts a rotation, then runs `change` once it is hashing (an argon2id hash takes tens of ms). */
    async function rotateAround(keyId: string, change: () => Promise<unknown>) {
      const rotation = t.call("POST", `/v1/keys/${keyId}/rotate`, { body: { gracePeriodSeconds: 60 } });
      await new Promise((resolve) => setTimeout(resolve, 5));
      await change();
      return rotation;
    }

    it("is carried to the successor, which copies the key as the rotation writes it", async () => {
      const slow = await createKeyspace(t, { hashAlgorithm: "argon2id" });
      const old = await createKey(t, {
        keyspaceId: slow.id,
        name: "before",
        meta: { v: 1 },
        scopes: ["read"],
      });
      const change = {
        name: "after",
        meta: { v: 2 },
        scopes: ["write"],
        expiresAt: "2027-01-01T00:00:00.000Z",
      };
      const rotated = await rotateAround(old.id, async () =>
        expectStatus(await t.call("PATCH", `/v1/keys/${old.id}`, { body: change }), 200),
      );
      expectStatus(rotated, 201);
      expect(rotated.body).toMatchObject(change);
      expect((await t.call("GET", `/v1/keys/${rotated.body.id}`)).body).toMatchObject(change);
    });

    it("revoked meanwhile, the key is not rotated (409) and no successor is stored", async () => {
      const slow = await createKeyspace(t, { hashAlgorithm: "argon2id" });
      const old = await createKey(t, { keyspaceId: slow.id });
      const rotated = await rotateAround(old.id, () => t.call("POST", `/v1/keys/${old.id}/revoke`));
      expectProblem(rotated, 409, "CONFLICT");
      const listed = await t.call("GET", `/v1/keys?keyspaceId=${slow.id}&status=all`);
      expect(listed.body.data.map((key: { id: string }) => key.id)).toEqual([old.id]);
      expect((await t.call("GET", `/v1/keys/${old.id}`)).body.replacedById).toBeNull();
    });

    it("deleted meanwhile, the key is not found (404) and no successor is stored", async () => {
      const slow = await createKeyspace(t, { hashAlgorithm: "argon2id" });
      const old = await createKey(t, { keyspaceId: slow.id });
      const rotated = await rotateAround(old.id, () => t.call("DELETE", `/v1/keys/${old.id}`));
      expectProblem(rotated, 404, "NOT_FOUND");
      const listed = await t.call("GET", `/v1/keys?keyspaceId=${slow.id}&status=all`);
      expect(listed.body.data).toEqual([]);
    });
  });

  it("ends the old key at once when the grace period is left out", async () => {
    const old = await createKey(t, { keyspaceId });
    const response = await t.call("POST", `/v1/keys/${old.id}/rotate`);
    expectStatus(response, 201);
    expect((await t.call("GET", `/v1/keys/${old.id}`)).body.expiresAt).toBe(NOW);
    expect((await t.call("POST", "/v1/keys/verify", { body: { key: old.key } })).body.code).toBe("EXPIRED");
  });

  it("never extends the old key's life: its earlier expiresAt stays", async () => {
    const old = await createKey(t, { keyspaceId, expiresAt: "2026-11-27T04:00:30.000Z" });
    await t.call("POST", `/v1/keys/${old.id}/rotate`, { body: { gracePeriodSeconds: 3600 } });
    expect((await t.call("GET", `/v1/keys/${old.id}`)).body.expiresAt).toBe("2026-11-27T04:00:30.000Z");
  });

  it("moves the old key's updatedAt when it is rotated: its expiresAt and replacedById changed", async () => {
    const old = await createKey(t, { keyspaceId });
    clock.advance(5000);
    const rotated = await t.call("POST", `/v1/keys/${old.id}/rotate`, { body: { gracePeriodSeconds: 60 } });
    expectStatus(rotated, 201);
    expect((await t.call("GET", `/v1/keys/${old.id}`)).body).toMatchObject({
      replacedById: rotated.body.id,
      expiresAt: "2026-11-27T04:01:05.000Z",
      updatedAt: "2026-11-27T04:00:05.000Z",
    });
  });

  it("revokes a key with a reason", async () => {
    const created = await createKey(t, { keyspaceId });
    clock.advance(2000);
    const response = await t.call("POST", `/v1/keys/${created.id}/revoke`, { body: { reason: "leaked" } });
    expectStatus(response, 200);
    expect(response.body).toMatchObject({
      id: created.id,
      revokedAt: "2026-11-27T04:00:02.000Z",
      revokedReason: "leaked",
      updatedAt: "2026-11-27T04:00:02.000Z",
    });
    expect(response.body.key).toBeUndefined();
  });

  it("revokes idempotently: a second call answers the first revokedAt and reason", async () => {
    const created = await createKey(t, { keyspaceId });
    const first = await t.call("POST", `/v1/keys/${created.id}/revoke`, { body: { reason: "leaked" } });
    clock.advance(60_000);
    const second = await t.call("POST", `/v1/keys/${created.id}/revoke`, { body: { reason: "again" } });
    expectStatus(second, 200);
    expect(second.body).toEqual(first.body);
  });

  it("revokes once when two revocations race: the later one answers the first revokedAt and reason, and records no event", async () => {
    const created = await createKey(t, { keyspaceId });
    // This request reads the key as not revoked; another revocation commits before its write runs.
    let first: { status: number; body: Record<string, unknown> } | undefined;
    betweenCheckAndWrite(t, async (id) => {
      clock.advance(1000);
      first = await t.call("POST", `/v1/keys/${id}/revoke`, { body: { reason: "first" } });
      clock.advance(1000);
    });
    const second = await t.call("POST", `/v1/keys/${created.id}/revoke`, { body: { reason: "second" } });
    expectStatus(second, 200);
    expect(first?.status).toBe(200);
    expect(second.body).toMatchObject({
      revokedAt: "2026-11-27T04:00:01.000Z",
      revokedReason: "first",
      updatedAt: "2026-11-27T04:00:01.000Z",
    });
    expect((await t.call("GET", `/v1/keys/${created.id}`)).body).toMatchObject({
      revokedAt: "2026-11-27T04:00:01.000Z",
      revokedReason: "first",
    });
    const events = (await t.call("GET", `/v1/audit-events?resourceId=${created.id}&action=key.revoke`)).body
      .data;
    expect(events).toHaveLength(1);
  });

  it("takes an empty body sent as application/json as no body on rotate and revoke", async () => {
    const created = await createKey(t, { keyspaceId });
    const headers = { "content-type": "application/json" };
    const rotated = await t.call("POST", `/v1/keys/${created.id}/rotate`, { raw: "", headers });
    expectStatus(rotated, 201);
    expect((await t.call("GET", `/v1/keys/${created.id}`)).body.expiresAt).toBe(NOW);
    const revoked = await t.call("POST", `/v1/keys/${rotated.body.id}/revoke`, { raw: " ", headers });
    expectStatus(revoked, 200);
    expect(revoked.body).toMatchObject({ revokedAt: NOW, revokedReason: null });
  });

  it("revokes without a body, leaving revokedReason null", async () => {
    const created = await createKey(t, { keyspaceId });
    const response = await t.call("POST", `/v1/keys/${created.id}/revoke`);
    expectStatus(response, 200);
    expect(response.body).toMatchObject({ revokedAt: NOW, revokedReason: null });
  });

  it("deletes a key: 204 with no body, then 404 on every route, while its audit trail stays", async () => {
    const created = await createKey(t, { keyspaceId });
    const response = await t.call("DELETE", `/v1/keys/${created.id}`);
    expect(response.status).toBe(204);
    expect(response.text).toBe("");
    expect((await t.call("GET", `/v1/keys/${created.id}`)).status).toBe(404);
    expect((await t.call("DELETE", `/v1/keys/${created.id}`)).status).toBe(404);
    expect((await t.call("GET", "/v1/keys?status=all")).body.data).toEqual([]);
    const audit = await t.call("GET", `/v1/audit-events?resourceId=${created.id}`);
    expect(audit.body.data.map((event: { action: string }) => event.action)).toEqual([
      "key.delete",
      "key.create",
    ]);
    expect((await t.call("POST", "/v1/keys/verify", { body: { key: created.key } })).body).toEqual({
      valid: false,
      code: "NOT_FOUND",
    });
  });

  it("deletes a key's usage with it: no counts stay behind in the database", async () => {
    const created = await createKey(t, { keyspaceId });
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    expect((await verify(t, { key: created.key, scopes: ["missing"] })).code).toBe("INSUFFICIENT_SCOPES");
    await t.deps.usage.flushAll();
    const usageRows = () =>
      t.db.$client.prepare("SELECT count(*) AS n FROM key_usage WHERE key_id = ?").get(created.id) as {
        n: number;
      };
    expect(usageRows().n).toBeGreaterThan(0);
    expect((await t.call("DELETE", `/v1/keys/${created.id}`)).status).toBe(204);
    expect(usageRows().n).toBe(0);
  });

  it("rotates a key that has been used: the successor has not been, whatever the old key's lastUsedAt", async () => {
    const old = await createKey(t, { keyspaceId });
    expect((await verify(t, { key: old.key })).code).toBe("VALID");
    await t.deps.usage.flushAll(); // the old key's lastUsedAt is stored
    expect((await t.call("GET", `/v1/keys/${old.id}`)).body.lastUsedAt).toBe(NOW);
    clock.advance(1000);
    const rotated = await t.call("POST", `/v1/keys/${old.id}/rotate`, { body: { gracePeriodSeconds: 60 } });
    expectStatus(rotated, 201);
    expect(rotated.body.lastUsedAt).toBeNull();
    expect((await t.call("GET", `/v1/keys/${rotated.body.id}`)).body.lastUsedAt).toBeNull();
    expect((await t.call("GET", `/v1/keys/${old.id}`)).body.lastUsedAt).toBe(NOW);
  });
});
