import { beforeEach, describe, expect, it } from "vitest";
import { createTestApp, ManualClock, type TestApp, verify } from "../helpers.js";
import { iso, keyWith, T0, verifyConcurrently } from "../support/verify.js";

describe("POST /v1/keys/verify: rate limits", () => {
  let t: TestApp;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
  });

  it("answers exactly limit VALID in a window, then RATE_LIMITED until the window ends", async () => {
    const created = await keyWith(t, { ratelimit: { limit: 3, durationMs: 10_000 } });
    const seen = [];
    for (let call = 0; call < 3; call++) {
      seen.push((await verify(t, { key: created.key })).ratelimit);
      clock.advance(1_000);
    }
    const resetAt = iso(T0 + 10_000);
    expect(seen).toStrictEqual([
      { limit: 3, remaining: 2, resetAt },
      { limit: 3, remaining: 1, resetAt },
      { limit: 3, remaining: 0, resetAt },
    ]);
    expect(await verify(t, { key: created.key })).toMatchObject({
      valid: false,
      code: "RATE_LIMITED",
      ratelimit: { limit: 3, remaining: 0, resetAt },
    });
    clock.set("2026-11-27T04:00:09.999Z");
    expect((await verify(t, { key: created.key })).code).toBe("RATE_LIMITED");
    clock.set("2026-11-27T04:00:10.000Z");
    expect(await verify(t, { key: created.key })).toMatchObject({
      code: "VALID",
      ratelimit: { limit: 3, remaining: 2, resetAt: iso(T0 + 20_000) },
    });
  });

  it("keeps running a window a PATCH raised durationMs for, through a sweep of ended windows", async () => {
    const created = await keyWith(t, { ratelimit: { limit: 1, durationMs: 1_000 } });
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    clock.advance(500);
    const raised = { ratelimit: { limit: 1, durationMs: 60_000 } };
    expect((await t.call("PATCH", `/v1/keys/${created.id}`, { body: raised })).status).toBe(200);
    clock.advance(1_000);
    // Enough other keys' windows to make the limiter sweep the ended ones (10,000).
    for (let i = 0; i < 10_000; i++)
      t.deps.rateLimiter.take(`key_other${i}`, { limit: 1, durationMs: 1 }, clock.now());
    expect(await verify(t, { key: created.key })).toMatchObject({
      code: "RATE_LIMITED",
      ratelimit: { limit: 1, remaining: 0, resetAt: iso(T0 + 60_000) },
    });
  });

  it("opens a fresh window after a PATCH that raised durationMs once the old window had ended", async () => {
    const created = await keyWith(t, { ratelimit: { limit: 1, durationMs: 1_000 } });
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    clock.advance(1_200);
    const raised = { ratelimit: { limit: 1, durationMs: 60_000 } };
    expect((await t.call("PATCH", `/v1/keys/${created.id}`, { body: raised })).status).toBe(200);
    expect(await verify(t, { key: created.key })).toMatchObject({
      code: "VALID",
      ratelimit: { limit: 1, remaining: 0, resetAt: iso(T0 + 1_200 + 60_000) },
    });
  });

  it("leaves a window ended that ends while the PATCH raising durationMs is being written", async () => {
    const created = await keyWith(t, { ratelimit: { limit: 1, durationMs: 1_000 } });
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    clock.advance(999);
    // The write takes 2 ms, over the window's end: the rule changes after it, at T0 + 1_001.
    const keys = t.deps.repos.keys;
    const write = keys.update.bind(keys);
    keys.update = async (...args) => {
      clock.advance(2);
      return write(...args);
    };
    const raised = { ratelimit: { limit: 1, durationMs: 60_000 } };
    expect((await t.call("PATCH", `/v1/keys/${created.id}`, { body: raised })).status).toBe(200);
    expect(await verify(t, { key: created.key })).toMatchObject({
      code: "VALID",
      ratelimit: { limit: 1, remaining: 0, resetAt: iso(T0 + 1_001 + 60_000) },
    });
  });

  it("opens the window at the first counted call, not aligned to the clock", async () => {
    const created = await keyWith(t, { ratelimit: { limit: 2, durationMs: 60_000 } });
    clock.advance(1_234);
    expect((await verify(t, { key: created.key })).ratelimit.resetAt).toBe(iso(T0 + 1_234 + 60_000));
  });

  it("does not count RATE_LIMITED calls: the window ends on time however many were refused", async () => {
    const created = await keyWith(t, { ratelimit: { limit: 1, durationMs: 5_000 } });
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    for (let call = 0; call < 10; call++) {
      clock.advance(400);
      expect((await verify(t, { key: created.key })).code).toBe("RATE_LIMITED");
    }
    clock.set("2026-11-27T04:00:05.000Z");
    expect(await verify(t, { key: created.key })).toMatchObject({
      code: "VALID",
      ratelimit: { limit: 1, remaining: 0, resetAt: iso(T0 + 10_000) },
    });
  });

  it("does not count calls refused before the rate-limit check", async () => {
    const created = await keyWith(t, { scopes: ["read"], ratelimit: { limit: 2, durationMs: 60_000 } });
    for (let call = 0; call < 5; call++) {
      expect(await verify(t, { key: created.key, scopes: ["admin"] })).toMatchObject({
        code: "INSUFFICIENT_SCOPES",
        ratelimit: { limit: 2, remaining: 2 },
      });
    }
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    expect((await verify(t, { key: created.key })).code).toBe("VALID");
    expect((await verify(t, { key: created.key })).code).toBe("RATE_LIMITED");
  });

  it("counts calls that pass the rate-limit check but lack credits", async () => {
    const created = await keyWith(t, { remaining: 0, ratelimit: { limit: 2, durationMs: 60_000 } });
    expect(await verify(t, { key: created.key })).toMatchObject({
      code: "USAGE_EXCEEDED",
      ratelimit: { remaining: 1 },
    });
    expect(await verify(t, { key: created.key })).toMatchObject({
      code: "USAGE_EXCEEDED",
      ratelimit: { remaining: 0 },
    });
    expect((await verify(t, { key: created.key })).code).toBe("RATE_LIMITED");
  });

  it("gives exactly limit VALID to concurrent calls", async () => {
    const created = await keyWith(t, { ratelimit: { limit: 5, durationMs: 60_000 } });
    const { byCode } = await verifyConcurrently(t, 20, { key: created.key });
    expect(byCode).toStrictEqual({ VALID: 5, RATE_LIMITED: 15 });
  });

  it("keeps one window per key", async () => {
    const first = await keyWith(t, { ratelimit: { limit: 1, durationMs: 60_000 } });
    const second = await keyWith(t, { ratelimit: { limit: 1, durationMs: 60_000 } });
    expect((await verify(t, { key: first.key })).code).toBe("VALID");
    expect((await verify(t, { key: first.key })).code).toBe("RATE_LIMITED");
    expect((await verify(t, { key: second.key })).code).toBe("VALID");
  });

  it("hands a key's window to its successor at a rotation, in which the old key counts through its grace period", async () => {
    const old = await keyWith(t, { ratelimit: { limit: 3, durationMs: 60_000 } });
    expect((await verify(t, { key: old.key })).code).toBe("VALID");
    expect((await verify(t, { key: old.key })).code).toBe("VALID");
    clock.advance(1_000);
    const rotated = await t.call("POST", `/v1/keys/${old.id}/rotate`, { body: { gracePeriodSeconds: 3600 } });
    expect(rotated.status).toBe(201);
    const resetAt = iso(T0 + 60_000);
    // The third call of the window, whichever key makes it: a rotation hands out no fresh limit.
    expect(await verify(t, { key: rotated.body.key })).toMatchObject({
      code: "VALID",
      ratelimit: { limit: 3, remaining: 0, resetAt },
    });
    expect((await verify(t, { key: rotated.body.key })).code).toBe("RATE_LIMITED");
    expect(await verify(t, { key: old.key })).toMatchObject({
      code: "RATE_LIMITED",
      ratelimit: { limit: 3, remaining: 0, resetAt },
    });
    // A refusal before the rate check shows the window too, the one the key would count in.
    expect(await verify(t, { key: old.key, scopes: ["missing"] })).toMatchObject({
      code: "INSUFFICIENT_SCOPES",
      ratelimit: { limit: 3, remaining: 0, resetAt },
    });
    // A second rotation hands the same window on; when it ends, the keys share the next one.
    const again = await t.call("POST", `/v1/keys/${rotated.body.id}/rotate`, {
      body: { gracePeriodSeconds: 3600 },
    });
    expect((await verify(t, { key: again.body.key })).code).toBe("RATE_LIMITED");
    clock.set(resetAt);
    const codes = [];
    for (const key of [old.key, rotated.body.key, again.body.key, again.body.key])
      codes.push((await verify(t, { key })).code);
    expect(codes).toStrictEqual(["VALID", "VALID", "VALID", "RATE_LIMITED"]);
    // Deleting the new key leaves the window the old keys count in: no fresh limit for them either.
    expect((await t.call("DELETE", `/v1/keys/${again.body.id}`)).status).toBe(204);
    expect((await verify(t, { key: old.key })).code).toBe("RATE_LIMITED");
    expect((await verify(t, { key: rotated.body.key })).code).toBe("RATE_LIMITED");
  });
});
