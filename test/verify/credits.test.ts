import { beforeEach, describe, expect, it, vi } from "vitest";
import { createKey, createKeyspace, createTestApp, ManualClock, type TestApp, verify } from "../helpers.js";
import { tempDatabase } from "../support/server-process.js";
import { betweenCheckAndWrite, deferred, iso, keyWith, T0, verifyConcurrently } from "../support/verify.js";

describe("POST /v1/keys/verify: credits", () => {
  let t: TestApp;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
  });

  async function remainingOf(id: string) {
    const response = await t.call("GET", `/v1/keys/${id}`);
    expect(response.status).toBe(200);
    return response.body.remaining;
  }

  it("gives exactly 10 VALID and 30 USAGE_EXCEEDED to 40 concurrent verifies on remaining = 10", async () => {
    const created = await keyWith(t, { remaining: 10 });
    const { results, byCode } = await verifyConcurrently(t, 40, { key: created.key });
    expect(byCode).toStrictEqual({ VALID: 10, USAGE_EXCEEDED: 30 });
    const spent = results.filter((result) => result.valid).map((result) => result.remaining);
    expect(spent.sort((a, b) => a - b)).toStrictEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await remainingOf(created.id)).toBe(0);
  });

  it("spends the credits of concurrent verifies in one commit, not one commit each", async () => {
    const database = tempDatabase();
    try {
      const onDisk = await createTestApp({ clock, dbFile: database.file });
      const created = await keyWith(onDisk, { remaining: 1_000 });
      await verify(onDisk, { key: created.key });
      onDisk.db.$client.pragma("wal_checkpoint(TRUNCATE)");
      const { byCode } = await verifyConcurrently(onDisk, 40, { key: created.key });
      expect(byCode).toStrictEqual({ VALID: 40 });
      // Every commit appends the page it changed to the WAL: 40 commits would append 40 frames.
      const [wal] = onDisk.db.$client.pragma("wal_checkpoint(PASSIVE)") as { log: number }[];
      expect(wal?.log).toBeLessThanOrEqual(2);
      expect((await onDisk.call("GET", `/v1/keys/${created.id}`)).body.remaining).toBe(959);
      onDisk.db.$client.close();
    } finally {
      database.remove();
    }
  });

  it("spends 1 credit by default and returns the balance after the call", async () => {
    const created = await keyWith(t, { remaining: 3 });
    expect((await verify(t, { key: created.key })).remaining).toBe(2);
    expect(await remainingOf(created.id)).toBe(2);
  });

  it("answers VALID to cost 0 on an empty key and spends nothing", async () => {
    const created = await keyWith(t, { remaining: 0 });
    expect(await verify(t, { key: created.key, cost: 0 })).toMatchObject({
      valid: true,
      code: "VALID",
      remaining: 0,
    });
    expect(await remainingOf(created.id)).toBe(0);
  });

  it("refuses a cost above the balance and spends nothing", async () => {
    const created = await keyWith(t, { remaining: 5 });
    expect(await verify(t, { key: created.key, cost: 6 })).toMatchObject({
      valid: false,
      code: "USAGE_EXCEEDED",
      remaining: 5,
    });
    expect(await remainingOf(created.id)).toBe(5);
  });

  it("accepts a cost equal to the balance and leaves 0", async () => {
    const created = await keyWith(t, { remaining: 7 });
    expect(await verify(t, { key: created.key, cost: 7 })).toMatchObject({ code: "VALID", remaining: 0 });
    expect((await verify(t, { key: created.key, cost: 1 })).code).toBe("USAGE_EXCEEDED");
  });

  it("accepts cost 1000 and answers 400 to cost 1001, -1 or 1.5", async () => {
    const created = await keyWith(t, { remaining: 1_000 });
    expect(await verify(t, { key: created.key, cost: 1_000 })).toMatchObject({ code: "VALID", remaining: 0 });
    for (const cost of [1_001, -1, 1.5, "1"]) {
      const response = await t.call("POST", "/v1/keys/verify", { body: { key: created.key, cost } });
      expect(response.status, `cost ${cost}`).toBe(400);
      expect(response.body.code).toBe("VALIDATION_FAILED");
      expect(response.body.errors).toStrictEqual([{ path: "cost", message: expect.any(String) }]);
    }
  });

  it("ignores cost for a key without a credit limit", async () => {
    const created = await keyWith(t);
    const result = await verify(t, { key: created.key, cost: 1_000 });
    expect(result.code).toBe("VALID");
    expect(result).not.toHaveProperty("remaining");
  });

  it("spends nothing on a refused call", async () => {
    const created = await keyWith(t, {
      remaining: 5,
      scopes: ["read"],
      expiresAt: iso(T0 + 60_000),
      ratelimit: { limit: 1, durationMs: 60_000 },
    });
    expect(await verify(t, { key: created.key })).toMatchObject({ code: "VALID", remaining: 4 });
    expect(await verify(t, { key: created.key })).toMatchObject({ code: "RATE_LIMITED", remaining: 4 });
    expect(await verify(t, { key: created.key, scopes: ["admin"] })).toMatchObject({
      code: "INSUFFICIENT_SCOPES",
      remaining: 4,
    });
    await t.call("PATCH", `/v1/keys/${created.id}`, { body: { enabled: false } });
    expect(await verify(t, { key: created.key })).toMatchObject({ code: "DISABLED", remaining: 4 });
    await t.call("PATCH", `/v1/keys/${created.id}`, { body: { enabled: true } });
    clock.advance(60_000);
    expect(await verify(t, { key: created.key })).toMatchObject({ code: "EXPIRED", remaining: 4 });
    await t.call("POST", `/v1/keys/${created.id}/revoke`);
    expect(await verify(t, { key: created.key })).toMatchObject({ code: "REVOKED", remaining: 4 });
    expect(await remainingOf(created.id)).toBe(4);
  });

  it("keeps credits spent while a refill change was being applied", async () => {
    const created = await keyWith(t, { remaining: 10, refill: { amount: 10, interval: "monthly" } });
    expect((await verify(t, { key: created.key, cost: 0 })).remaining).toBe(10);
    // Hold the PATCH after it has read the key, while a verify spends from it.
    const patchStarted = deferred();
    const resume = deferred();
    const findById = t.deps.repos.keys.findById.bind(t.deps.repos.keys);
    const spy = vi.spyOn(t.deps.repos.keys, "findById").mockImplementationOnce(async (id) => {
      const row = await findById(id);
      patchStarted.resolve();
      await resume.promise;
      return row;
    });
    const patch = t.call("PATCH", `/v1/keys/${created.id}`, {
      body: { refill: { amount: 10, interval: "daily" } },
    });
    await patchStarted.promise;
    expect((await verify(t, { key: created.key, cost: 4 })).remaining).toBe(6);
    resume.resolve();
    const patched = await patch;
    spy.mockRestore();
    expect(patched.status).toBe(200);
    expect(patched.body.remaining).toBe(6);
    expect(await remainingOf(created.id)).toBe(6);
  });

  describe("rotation moves credits, never multiplies them", () => {
    it("gives the new key the old key's balance and lets both spend it during the grace period", async () => {
      const created = await keyWith(t, { remaining: 10 });
      expect((await verify(t, { key: created.key, cost: 3 })).remaining).toBe(7);
      const rotated = await t.call("POST", `/v1/keys/${created.id}/rotate`, {
        body: { gracePeriodSeconds: 600 },
      });
      expect(rotated.body.remaining).toBe(7);
      expect(await remainingOf(created.id)).toBe(7);
      expect((await verify(t, { key: created.key })).remaining).toBe(6);
      expect((await verify(t, { key: rotated.body.key })).remaining).toBe(5);
      expect(await remainingOf(created.id)).toBe(5);
      expect(await remainingOf(rotated.body.id)).toBe(5);
    });

    it("answers as many VALID across the old and the new key as the original balance", async () => {
      const created = await keyWith(t, { remaining: 10 });
      expect((await verify(t, { key: created.key })).code).toBe("VALID");
      const rotated = await t.call("POST", `/v1/keys/${created.id}/rotate`, {
        body: { gracePeriodSeconds: 600 },
      });
      const [viaOld, viaNew] = await Promise.all([
        verifyConcurrently(t, 20, { key: created.key }),
        verifyConcurrently(t, 20, { key: rotated.body.key }),
      ]);
      expect((viaOld.byCode.VALID ?? 0) + (viaNew.byCode.VALID ?? 0)).toBe(9);
      expect((viaOld.byCode.USAGE_EXCEEDED ?? 0) + (viaNew.byCode.USAGE_EXCEEDED ?? 0)).toBe(31);
      expect(await remainingOf(created.id)).toBe(0);
      expect(await remainingOf(rotated.body.id)).toBe(0);
    });

    it("hands over only the credits left when the rotation commits, not those read when it began", async () => {
      const created = await keyWith(t, { remaining: 10 });
      // Hold the rotation after it has read the old key, while verifies spend its credits.
      const rotationStarted = deferred();
      const resume = deferred();
      const findKeyspace = t.deps.repos.keyspaces.findById.bind(t.deps.repos.keyspaces);
      const spy = vi.spyOn(t.deps.repos.keyspaces, "findById").mockImplementationOnce(async (id) => {
        rotationStarted.resolve();
        await resume.promise;
        return findKeyspace(id);
      });
      const rotation = t.call("POST", `/v1/keys/${created.id}/rotate`, { body: { gracePeriodSeconds: 600 } });
      await rotationStarted.promise;
      const during = await verifyConcurrently(t, 4, { key: created.key, cost: 2 });
      expect(during.byCode).toStrictEqual({ VALID: 4 });
      resume.resolve();
      const rotated = await rotation;
      spy.mockRestore();
      expect(rotated.status).toBe(201);
      expect(rotated.body.remaining).toBe(2);
      const after = await verifyConcurrently(t, 10, { key: rotated.body.key });
      expect(after.byCode).toStrictEqual({ VALID: 2, USAGE_EXCEEDED: 8 });
    });

    it("spends from the successor a verify that read the old key before a rotation committed", async () => {
      const created = await keyWith(t, { remaining: 5 });
      expect((await verify(t, { key: created.key, cost: 0 })).remaining).toBe(5);
      // Sent together: the verifies read the cached old key and wait for their spends' shared commit,
      // which comes after the rotation's own transaction has handed the balance over.
      const [during, rotated] = await Promise.all([
        verifyConcurrently(t, 4, { key: created.key }),
        t.call("POST", `/v1/keys/${created.id}/rotate`, { body: { gracePeriodSeconds: 600 } }),
      ]);
      expect(rotated.status).toBe(201);
      const after = await verifyConcurrently(t, 10, { key: rotated.body.key });
      expect((during.byCode.VALID ?? 0) + (after.byCode.VALID ?? 0)).toBe(5);
      expect(await remainingOf(rotated.body.id)).toBe(0);
    });

    it("leaves a key whose successor was deleted in its grace period a balance of 0, which cost 0 does not exceed", async () => {
      const old = await keyWith(t, { remaining: 5 });
      const rotated = await t.call("POST", `/v1/keys/${old.id}/rotate`, {
        body: { gracePeriodSeconds: 600 },
      });
      expect((await t.call("DELETE", `/v1/keys/${rotated.body.id}`)).status).toBe(204);
      expect(await remainingOf(old.id)).toBe(0);
      expect(await verify(t, { key: old.key, cost: 0 })).toMatchObject({ code: "VALID", remaining: 0 });
      expect(await verify(t, { key: old.key })).toMatchObject({ code: "USAGE_EXCEEDED", remaining: 0 });
    });

    it("shows such a key no refill of its own after a boundary, as verify spends none", async () => {
      clock.set("2026-11-27T23:00:00.000Z");
      const old = await keyWith(t, { refill: { amount: 5, interval: "daily" } });
      const rotated = await t.call("POST", `/v1/keys/${old.id}/rotate`, {
        body: { gracePeriodSeconds: 172_800 },
      });
      expect((await t.call("DELETE", `/v1/keys/${rotated.body.id}`)).status).toBe(204);
      clock.set("2026-11-28T00:00:01.000Z");
      const read = (await t.call("GET", `/v1/keys/${old.id}`)).body;
      expect(read).toMatchObject({ remaining: 0, refill: null });
      expect((await t.call("GET", "/v1/keys?limit=1")).body.data[0]).toMatchObject({
        id: old.id,
        remaining: 0,
      });
      expect(await verify(t, { key: old.key })).toMatchObject({ code: "USAGE_EXCEEDED", remaining: 0 });
    });

    it("answers a revocation of a rotated-away key with the credits it spends, as a read shows them", async () => {
      const old = await keyWith(t, { remaining: 10, refill: { amount: 10, interval: "daily" } });
      const rotated = await t.call("POST", `/v1/keys/${old.id}/rotate`, {
        body: { gracePeriodSeconds: 600 },
      });
      expect((await verify(t, { key: rotated.body.key, cost: 7 })).remaining).toBe(3);
      await t.call("PATCH", `/v1/keys/${rotated.body.id}`, {
        body: { refill: { amount: 50, interval: "monthly" } },
      });
      const revoked = await t.call("POST", `/v1/keys/${old.id}/revoke`);
      expect(revoked.status).toBe(200);
      const read = (await t.call("GET", `/v1/keys/${old.id}`)).body;
      expect(read).toMatchObject({ remaining: 3, refill: { amount: 50, interval: "monthly" } });
      expect(revoked.body).toStrictEqual(read);
    });

    it.each([
      ["a balance", { remaining: 50 }],
      ["a refill", { refill: { amount: 50, interval: "daily" } }],
      ["a later expiry", { expiresAt: iso(T0 + 86_400_000) }],
    ])(
      "answers 409 to a PATCH setting %s when a rotation commits between its check and its write, and changes nothing",
      async (_, body) => {
        const old = await keyWith(t, { remaining: 10 });
        let successor: { id: string; key: string } | undefined;
        // The PATCH reads the key unrotated; the rotation (no grace period) commits before its write.
        betweenCheckAndWrite(t, async (id) => {
          const rotated = await t.call("POST", `/v1/keys/${id}/rotate`, { body: { gracePeriodSeconds: 0 } });
          expect(rotated.status).toBe(201);
          successor = rotated.body;
        });
        const patched = await t.call("PATCH", `/v1/keys/${old.id}`, { body });
        expect(patched.status, patched.text).toBe(409);
        expect(patched.body.code).toBe("CONFLICT");
        expect((await t.call("GET", `/v1/keys/${old.id}`)).body).toMatchObject({
          remaining: 10,
          expiresAt: iso(T0),
        });
        expect(await verify(t, { key: old.key })).toMatchObject({ code: "EXPIRED" });
        expect((await t.call("GET", `/v1/keys/${successor?.id}`)).body).toMatchObject({
          remaining: 10,
          refill: null,
        });
      },
    );

    it("answers 409 to remaining: null when a PATCH adding a refill commits between its check and its write", async () => {
      const created = await keyWith(t, { remaining: 10 });
      betweenCheckAndWrite(t, async (id) => {
        const refilled = await t.call("PATCH", `/v1/keys/${id}`, {
          body: { refill: { amount: 5, interval: "daily" } },
        });
        expect(refilled.status).toBe(200);
      });
      const unlimited = await t.call("PATCH", `/v1/keys/${created.id}`, { body: { remaining: null } });
      expect([unlimited.status, unlimited.body.code]).toEqual([409, "CONFLICT"]);
      expect((await t.call("GET", `/v1/keys/${created.id}`)).body).toMatchObject({
        remaining: 10,
        refill: { amount: 5, interval: "daily" },
      });
    });

    it("brings forward the expiry of a rotated-away key whose successor is gone, with no conflict", async () => {
      const old = await keyWith(t, { refill: { amount: 5, interval: "daily" } });
      const rotated = await t.call("POST", `/v1/keys/${old.id}/rotate`, {
        body: { gracePeriodSeconds: 600 },
      });
      expect((await t.call("DELETE", `/v1/keys/${rotated.body.id}`)).status).toBe(204);
      const earlier = iso(T0 + 60_000);
      const patched = await t.call("PATCH", `/v1/keys/${old.id}`, { body: { expiresAt: earlier } });
      expect(patched.status, patched.text).toBe(200);
      expect(patched.body).toMatchObject({ expiresAt: earlier, remaining: 0, refill: null });
    });

    it("does not refuse a rename that a rotation overtakes: only expiry and credits were checked", async () => {
      const created = await keyWith(t, { remaining: 10 });
      betweenCheckAndWrite(t, async (id) => {
        const rotated = await t.call("POST", `/v1/keys/${id}/rotate`, { body: { gracePeriodSeconds: 60 } });
        expect(rotated.status).toBe(201);
      });
      const renamed = await t.call("PATCH", `/v1/keys/${created.id}`, { body: { name: "renamed" } });
      expect(renamed.status).toBe(200);
      expect(renamed.body).toMatchObject({ name: "renamed", replacedById: expect.any(String) });
    });

    it("answers VALID without a balance to a verify in flight while its key was made unlimited", async () => {
      const slow = await createKeyspace(t, { hashAlgorithm: "argon2id" });
      const created = await createKey(t, { keyspaceId: slow.id, remaining: 5 });
      // A cold argon2id compare takes tens of ms: the PATCH commits while the verify holds the old record.
      const inFlight = verify(t, { key: created.key });
      await new Promise((resolve) => setTimeout(resolve, 3));
      expect((await t.call("PATCH", `/v1/keys/${created.id}`, { body: { remaining: null } })).status).toBe(
        200,
      );
      const answer = await inFlight;
      expect(answer.code).toBe("VALID");
      expect(answer).not.toHaveProperty("remaining");
    });

    it("makes every key of a rotation chain spend the newest key's credits, with warm caches", async () => {
      const first = await keyWith(t, { remaining: 6 });
      expect((await verify(t, { key: first.key, cost: 0 })).remaining).toBe(6);
      const second = await t.call("POST", `/v1/keys/${first.id}/rotate`, {
        body: { gracePeriodSeconds: 600 },
      });
      expect((await verify(t, { key: first.key, cost: 0 })).remaining).toBe(6);
      expect((await verify(t, { key: second.body.key, cost: 0 })).remaining).toBe(6);
      const third = await t.call("POST", `/v1/keys/${second.body.id}/rotate`, {
        body: { gracePeriodSeconds: 600 },
      });
      expect(third.status).toBe(201);
      const results = await Promise.all(
        [first.key, second.body.key, third.body.key].map((key) => verifyConcurrently(t, 4, { key })),
      );
      const valid = results.reduce((sum, { byCode }) => sum + (byCode.VALID ?? 0), 0);
      expect(valid).toBe(6);
      expect(await remainingOf(third.body.id)).toBe(0);
    });
  });
});
