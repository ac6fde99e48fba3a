import { beforeEach, describe, expect, it } from "vitest";
import { createKeyspace, createTestApp, ManualClock, type TestApp, verify } from "../helpers.js";
import { keyWith, verifyConcurrently } from "../support/verify.js";

describe("credits refill at UTC boundaries, lazily", () => {
  let t: TestApp;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    clock.set("2026-11-27T22:00:00.000Z");
    t = await createTestApp({ clock });
  });

  async function remainingOf(id: string) {
    return (await t.call("GET", `/v1/keys/${id}`)).body.remaining;
  }

  async function spendAll(key: string, credits: number) {
    expect((await verify(t, { key, cost: credits })).remaining).toBe(0);
    expect((await verify(t, { key })).code).toBe("USAGE_EXCEEDED");
  }

  it("starts a key created with a refill and no remaining at the refill amount", async () => {
    const created = await keyWith(t, { refill: { amount: 5, interval: "daily" } });
    expect(created.remaining).toBe(5);
    expect((await verify(t, { key: created.key })).remaining).toBe(4);
  });

  it("keeps an explicit remaining given with a refill", async () => {
    const created = await keyWith(t, { remaining: 2, refill: { amount: 5, interval: "daily" } });
    expect(created.remaining).toBe(2);
    expect((await verify(t, { key: created.key })).remaining).toBe(1);
  });

  it("starts a key full from a keyspace's default refill", async () => {
    const keyspace = await createKeyspace(t, { defaults: { refill: { amount: 3, interval: "monthly" } } });
    const created = await keyWith(t, {}, keyspace);
    expect(created.remaining).toBe(3);
    expect(created.refill).toStrictEqual({ amount: 3, interval: "monthly" });
  });

  it("resets remaining to the amount at the next UTC midnight, not before", async () => {
    const created = await keyWith(t, { refill: { amount: 5, interval: "daily" } });
    await spendAll(created.key, 5);
    clock.set("2026-11-27T23:59:59.999Z");
    expect((await verify(t, { key: created.key })).code).toBe("USAGE_EXCEEDED");
    clock.set("2026-11-28T00:00:00.000Z");
    expect(await remainingOf(created.id), "GET shows the refill before any verify").toBe(5);
    expect((await verify(t, { key: created.key })).remaining).toBe(4);
    expect(await remainingOf(created.id)).toBe(4);
  });

  it("shows the refill on every read after the boundary: list, patch, revoke and rotate answers", async () => {
    const keys = await Promise.all(
      [1, 2, 3, 4].map(() => keyWith(t, { name: "before", refill: { amount: 5, interval: "daily" } })),
    );
    for (const key of keys) await spendAll(key.key, 5);
    clock.set("2026-11-28T00:00:00.000Z");
    const listed = (await t.call("GET", "/v1/keys?limit=10")).body.data;
    expect(listed.map((key: { remaining: number }) => key.remaining)).toEqual([5, 5, 5, 5]);
    const [patched, revoked, rotated] = keys;
    const patch = await t.call("PATCH", `/v1/keys/${patched?.id}`, { body: { name: "after" } });
    expect(patch.body).toMatchObject({ name: "after", remaining: 5 });
    expect((await t.call("POST", `/v1/keys/${revoked?.id}/revoke`)).body.remaining).toBe(5);
    expect((await t.call("POST", `/v1/keys/${rotated?.id}/rotate`)).body.remaining).toBe(5);
  });

  it("resets to the amount rather than adding to what is left", async () => {
    const created = await keyWith(t, { remaining: 100, refill: { amount: 5, interval: "daily" } });
    expect((await verify(t, { key: created.key })).remaining).toBe(99);
    clock.set("2026-11-28T00:00:00.000Z");
    expect(await remainingOf(created.id)).toBe(5);
    expect((await verify(t, { key: created.key })).remaining).toBe(4);
  });

  it("refills once per day however many days passed", async () => {
    const created = await keyWith(t, { refill: { amount: 2, interval: "daily" } });
    await spendAll(created.key, 2);
    clock.set("2026-12-03T12:00:00.000Z");
    expect(await remainingOf(created.id)).toBe(2);
    await spendAll(created.key, 2);
    clock.set("2026-12-03T23:00:00.000Z");
    expect(await remainingOf(created.id)).toBe(0);
  });

  it("applies a refill once when concurrent verifies cross the boundary", async () => {
    const created = await keyWith(t, { refill: { amount: 5, interval: "daily" } });
    await spendAll(created.key, 5);
    clock.set("2026-11-28T00:00:00.000Z");
    const { byCode } = await verifyConcurrently(t, 12, { key: created.key });
    expect(byCode).toStrictEqual({ VALID: 5, USAGE_EXCEEDED: 7 });
    expect(await remainingOf(created.id)).toBe(0);
  });

  it("shows the refilled balance on a refused verify after the boundary", async () => {
    const created = await keyWith(t, { refill: { amount: 5, interval: "daily" } });
    await spendAll(created.key, 5);
    clock.set("2026-11-28T00:00:00.000Z");
    expect(await verify(t, { key: created.key, cost: 6 })).toMatchObject({
      code: "USAGE_EXCEEDED",
      remaining: 5,
    });
    expect(await remainingOf(created.id)).toBe(5);
  });

  it("resets a monthly refill on the first of the next month, not at midnight", async () => {
    const created = await keyWith(t, { refill: { amount: 3, interval: "monthly" } });
    await spendAll(created.key, 3);
    clock.set("2026-11-28T00:00:00.000Z");
    expect(await remainingOf(created.id)).toBe(0);
    clock.set("2026-11-30T23:59:59.999Z");
    expect((await verify(t, { key: created.key })).code).toBe("USAGE_EXCEEDED");
    clock.set("2026-12-01T00:00:00.000Z");
    expect(await remainingOf(created.id)).toBe(3);
    expect((await verify(t, { key: created.key })).remaining).toBe(2);
  });

  it("refills the credits an old key spends during its grace period", async () => {
    const created = await keyWith(t, { refill: { amount: 4, interval: "daily" } });
    await spendAll(created.key, 4);
    const rotated = await t.call("POST", `/v1/keys/${created.id}/rotate`, {
      body: { gracePeriodSeconds: 86_400 },
    });
    expect(rotated.body.remaining).toBe(0);
    clock.set("2026-11-28T00:00:00.000Z");
    expect(await remainingOf(created.id)).toBe(4);
    expect((await verify(t, { key: created.key })).remaining).toBe(3);
    expect((await verify(t, { key: rotated.body.key })).remaining).toBe(2);
  });
});
