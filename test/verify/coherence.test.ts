import { beforeEach, describe, expect, it, vi } from "vitest";
import { createTestApp, ManualClock, type TestApp, verify } from "../helpers.js";
import { createRootKey } from "../support/api.js";
import { deferred, iso, keyWith, T0 } from "../support/verify.js";

/**
 * Every change to a key takes effect on the node's very next verify. Each test warms the cache
 * first (and proves it is warm: the second verify is a cache hit), changes the key, and verifies at once.
 */
describe("POST /v1/keys/verify: coherence with a warm cache", () => {
  let t: TestApp;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
  });

  async function warm(key: string, token?: string, body: Record<string, unknown> = {}) {
    const first = await verify(t, { key, ...body }, token);
    const hits = t.deps.keyCache.hits;
    const second = await verify(t, { key, ...body }, token);
    expect(t.deps.keyCache.hits, "the second verify should be answered from the cache").toBe(hits + 1);
    expect(second.code).toBe(first.code);
    return second;
  }

  it("answers REVOKED right after a revocation", async () => {
    const created = await keyWith(t);
    expect((await warm(created.key)).code).toBe("VALID");
    expect((await t.call("POST", `/v1/keys/${created.id}/revoke`)).status).toBe(200);
    expect((await verify(t, { key: created.key })).code).toBe("REVOKED");
  });

  it("answers DISABLED right after a PATCH disables the key, and VALID right after it re-enables it", async () => {
    const created = await keyWith(t);
    expect((await warm(created.key)).code).toBe("VALID");
    expect((await t.call("PATCH", `/v1/keys/${created.id}`, { body: { enabled: false } })).status).toBe(200);
    expect((await verify(t, { key: created.key })).code).toBe("DISABLED");
    expect((await t.call("PATCH", `/v1/keys/${created.id}`, { body: { enabled: true } })).status).toBe(200);
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
  });

  it("answers NOT_FOUND right after a delete", async () => {
    const created = await keyWith(t);
    expect((await warm(created.key)).code).toBe("VALID");
    expect((await t.call("DELETE", `/v1/keys/${created.id}`)).status).toBe(204);
    expect(await verify(t, { key: created.key })).toStrictEqual({ valid: false, code: "NOT_FOUND" });
  });

  it("answers EXPIRED for the old key right after a rotation without grace", async () => {
    const created = await keyWith(t);
    expect((await warm(created.key)).code).toBe("VALID");
    const rotated = await t.call("POST", `/v1/keys/${created.id}/rotate`, {
      body: { gracePeriodSeconds: 0 },
    });
    expect(rotated.status).toBe(201);
    const old = await verify(t, { key: created.key });
    expect(old.code).toBe("EXPIRED");
    expect(old.expiresAt).toBe(iso(T0));
    expect((await verify(t, { key: rotated.body.key })).code).toBe("VALID");
  });

  it("keeps the old key VALID through the grace period and answers EXPIRED from its end", async () => {
    const created = await keyWith(t);
    expect((await warm(created.key)).code).toBe("VALID");
    const rotated = await t.call("POST", `/v1/keys/${created.id}/rotate`, {
      body: { gracePeriodSeconds: 60 },
    });
    expect(rotated.status).toBe(201);
    const during = await verify(t, { key: created.key });
    expect(during.code).toBe("VALID");
    expect(during.expiresAt).toBe(iso(T0 + 60_000));
    clock.advance(59_999);
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    clock.advance(1);
    expect((await verify(t, { key: created.key })).code).toBe("EXPIRED");
    expect((await verify(t, { key: rotated.body.key })).code).toBe("VALID");
  });

  it("never extends the old key's life beyond its own expiresAt on rotation", async () => {
    const created = await keyWith(t, { expiresAt: iso(T0 + 10_000) });
    expect((await warm(created.key)).code).toBe("VALID");
    await t.call("POST", `/v1/keys/${created.id}/rotate`, { body: { gracePeriodSeconds: 3_600 } });
    clock.advance(10_000);
    expect((await verify(t, { key: created.key })).code).toBe("EXPIRED");
  });

  it("answers NOT_FOUND to an owner-bound root key right after the key moves to another owner", async () => {
    const bound = await createRootKey(t, ["keys:verify"], { ownerId: "user_1" });
    const created = await keyWith(t, { ownerId: "user_1" });
    expect((await warm(created.key, bound.key)).code).toBe("VALID");
    const patched = await t.call("PATCH", `/v1/keys/${created.id}`, { body: { ownerId: "user_2" } });
    expect(patched.status).toBe(200);
    expect(await verify(t, { key: created.key }, bound.key)).toStrictEqual({
      valid: false,
      code: "NOT_FOUND",
    });
    const unbound = await verify(t, { key: created.key });
    expect(unbound.code).toBe("VALID");
    expect(unbound.ownerId).toBe("user_2");
  });

  it("checks the new scopes right after a scope change", async () => {
    const created = await keyWith(t, { scopes: ["read"] });
    expect((await warm(created.key, undefined, { scopes: ["read"] })).code).toBe("VALID");
    await t.call("PATCH", `/v1/keys/${created.id}`, { body: { scopes: ["write"] } });
    expect((await verify(t, { key: created.key, scopes: ["read"] })).code).toBe("INSUFFICIENT_SCOPES");
    const result = await verify(t, { key: created.key, scopes: ["write"] });
    expect(result.code).toBe("VALID");
    expect(result.scopes).toStrictEqual(["write"]);
  });

  it("returns the new name and meta right after an update", async () => {
    const created = await keyWith(t, { name: "before", meta: { plan: "free" } });
    expect((await warm(created.key)).name).toBe("before");
    await t.call("PATCH", `/v1/keys/${created.id}`, { body: { name: "after", meta: { plan: "pro" } } });
    const result = await verify(t, { key: created.key });
    expect(result.name).toBe("after");
    expect(result.meta).toStrictEqual({ plan: "pro" });
  });

  it("starts and stops counting credits right after remaining is set and cleared", async () => {
    const created = await keyWith(t);
    expect((await warm(created.key)).remaining).toBeUndefined();
    await t.call("PATCH", `/v1/keys/${created.id}`, { body: { remaining: 1 } });
    const spent = await verify(t, { key: created.key });
    expect(spent.code).toBe("VALID");
    expect(spent.remaining).toBe(0);
    expect((await verify(t, { key: created.key })).code).toBe("USAGE_EXCEEDED");
    await t.call("PATCH", `/v1/keys/${created.id}`, { body: { remaining: 2 } });
    expect(await verify(t, { key: created.key })).toMatchObject({ code: "VALID", remaining: 1 });
    await t.call("PATCH", `/v1/keys/${created.id}`, { body: { remaining: null } });
    const unlimited = await verify(t, { key: created.key });
    expect(unlimited.code).toBe("VALID");
    expect(unlimited).not.toHaveProperty("remaining");
  });

  it("checks the new expiresAt right after it changes, and revives an expired key when it is cleared", async () => {
    const created = await keyWith(t);
    expect((await warm(created.key)).expiresAt).toBeNull();
    await t.call("PATCH", `/v1/keys/${created.id}`, { body: { expiresAt: iso(T0 + 1_000) } });
    expect((await verify(t, { key: created.key })).expiresAt).toBe(iso(T0 + 1_000));
    clock.advance(1_000);
    expect((await verify(t, { key: created.key })).code).toBe("EXPIRED");
    await t.call("PATCH", `/v1/keys/${created.id}`, { body: { expiresAt: null } });
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
  });

  it("applies a new rate limit right after it is set", async () => {
    const created = await keyWith(t);
    expect((await warm(created.key)).ratelimit).toBeUndefined();
    await t.call("PATCH", `/v1/keys/${created.id}`, {
      body: { ratelimit: { limit: 1, durationMs: 60_000 } },
    });
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    expect((await verify(t, { key: created.key })).code).toBe("RATE_LIMITED");
    await t.call("PATCH", `/v1/keys/${created.id}`, { body: { ratelimit: null } });
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
  });

  it("refuses the old key in its grace period right after the new key's credits are taken away", async () => {
    const created = await keyWith(t, { remaining: 5 });
    expect((await warm(created.key)).remaining).toBe(3);
    const rotated = await t.call("POST", `/v1/keys/${created.id}/rotate`, {
      body: { gracePeriodSeconds: 600 },
    });
    expect((await verify(t, { key: created.key })).remaining).toBe(2);
    await t.call("PATCH", `/v1/keys/${rotated.body.id}`, { body: { remaining: 0 } });
    expect(await verify(t, { key: created.key })).toMatchObject({ code: "USAGE_EXCEEDED", remaining: 0 });
    await t.call("PATCH", `/v1/keys/${rotated.body.id}`, { body: { remaining: null } });
    const unlimited = await verify(t, { key: created.key });
    expect(unlimited.code).toBe("VALID");
    expect(unlimited).not.toHaveProperty("remaining");
  });

  it("does not cache a record loaded while the key was being revoked", async () => {
    const created = await keyWith(t);
    // Hold the verify's lookup after it has read the row, until the revocation has been answered.
    const findForVerify = t.deps.repos.keys.findForVerify.bind(t.deps.repos.keys);
    const lookupStarted = deferred();
    const released = deferred();
    const spy = vi.spyOn(t.deps.repos.keys, "findForVerify").mockImplementationOnce(async (id) => {
      const row = await findForVerify(id);
      lookupStarted.resolve();
      await released.promise;
      return row;
    });
    const inFlight = verify(t, { key: created.key });
    await lookupStarted.promise;
    expect((await t.call("POST", `/v1/keys/${created.id}/revoke`)).status).toBe(200);
    released.resolve();
    expect((await inFlight).code, "the in-flight verify read the key before the revocation").toBe("VALID");
    expect((await verify(t, { key: created.key })).code).toBe("REVOKED");
    spy.mockRestore();
  });

  it("answers 401 to a root key right after it is revoked", async () => {
    const verifier = await createRootKey(t, ["keys:verify"]);
    const created = await keyWith(t);
    await verify(t, { key: created.key }, verifier.key);
    const hits = t.deps.rootKeyCache.hits;
    expect((await verify(t, { key: created.key }, verifier.key)).code).toBe("VALID");
    expect(t.deps.rootKeyCache.hits, "the root key should be answered from the cache").toBe(hits + 1);
    expect((await t.call("POST", `/v1/root-keys/${verifier.id}/revoke`)).status).toBe(200);
    const response = await t.call("POST", "/v1/keys/verify", {
      body: { key: created.key },
      token: verifier.key,
    });
    expect(response.status).toBe(401);
    expect(response.body.code).toBe("UNAUTHORIZED");
  });
  describe("a rotated-away key in its grace period, cached, spending its successor's credits", () => {
    it("is bound at once by credits a PATCH gives its successor", async () => {
      const old = await keyWith(t); // unlimited
      const rotated = await t.call("POST", `/v1/keys/${old.id}/rotate`, {
        body: { gracePeriodSeconds: 3600 },
      });
      expect(rotated.status).toBe(201);
      for (let i = 0; i < 2; i++) expect((await verify(t, { key: old.key })).code).toBe("VALID"); // cached
      expect((await t.call("PATCH", `/v1/keys/${rotated.body.id}`, { body: { remaining: 1 } })).status).toBe(
        200,
      );
      expect(await verify(t, { key: old.key })).toMatchObject({ code: "VALID", remaining: 0 });
      expect((await verify(t, { key: old.key })).code).toBe("USAGE_EXCEEDED");
      expect((await t.call("GET", `/v1/keys/${rotated.body.id}`)).body.remaining).toBe(0);
    });

    it("answers the balance of the newest key once its successor is rotated again", async () => {
      const first = await keyWith(t, { remaining: 10, scopes: ["x"] });
      const second = await t.call("POST", `/v1/keys/${first.id}/rotate`, {
        body: { gracePeriodSeconds: 3600 },
      });
      expect((await verify(t, { key: first.key })).remaining).toBe(9); // cached, spending the second's
      const third = await t.call("POST", `/v1/keys/${second.body.id}/rotate`, {
        body: { gracePeriodSeconds: 3600 },
      });
      expect(third.status).toBe(201);
      expect((await verify(t, { key: third.body.key, cost: 4 })).remaining).toBe(5);
      expect(await verify(t, { key: first.key, scopes: ["y"] })).toMatchObject({
        code: "INSUFFICIENT_SCOPES",
        remaining: 5,
      });
      expect(await verify(t, { key: first.key, cost: 6 })).toMatchObject({
        code: "USAGE_EXCEEDED",
        remaining: 5,
      });
    });
  });
});
