import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { type CreditState, effectiveRemaining, refillPeriodStart } from "../../src/keys/credits.js";
import { createTestApp, type TestApp } from "../helpers.js";
import { keyWith } from "../support/verify.js";

const at = (iso: string) => Date.parse(iso);

function state(fields: Partial<CreditState>): CreditState {
  return { remaining: 3, refillAmount: null, refillInterval: null, refilledAt: null, ...fields };
}

describe("refillPeriodStart", () => {
  it("starts a daily period at UTC midnight", () => {
    expect(refillPeriodStart("daily", at("2026-11-27T23:59:59.999Z"))).toBe(at("2026-11-27T00:00:00.000Z"));
    expect(refillPeriodStart("daily", at("2026-11-28T00:00:00.000Z"))).toBe(at("2026-11-28T00:00:00.000Z"));
  });

  it("starts a monthly period on the first of the UTC month, across years and leap days", () => {
    expect(refillPeriodStart("monthly", at("2026-11-30T23:59:59.999Z"))).toBe(at("2026-11-01T00:00:00.000Z"));
    expect(refillPeriodStart("monthly", at("2027-01-01T00:00:00.000Z"))).toBe(at("2027-01-01T00:00:00.000Z"));
    expect(refillPeriodStart("monthly", at("2028-02-29T12:00:00.000Z"))).toBe(at("2028-02-01T00:00:00.000Z"));
  });
});

describe("effectiveRemaining", () => {
  const now = at("2026-11-27T12:00:00.000Z");

  it("is null for a key without a credit limit", () => {
    expect(effectiveRemaining(state({ remaining: null }), now)).toBeNull();
  });

  it("is the stored balance without a refill", () => {
    expect(effectiveRemaining(state({ remaining: 3, refilledAt: 0 }), now)).toBe(3);
  });

  it("is the stored balance when the last refill is in the current period", () => {
    const daily = state({
      refillAmount: 10,
      refillInterval: "daily",
      refilledAt: at("2026-11-27T00:00:00.000Z"),
    });
    expect(effectiveRemaining(daily, now)).toBe(3);
    const monthly = state({
      refillAmount: 10,
      refillInterval: "monthly",
      refilledAt: at("2026-11-01T00:00:00.000Z"),
    });
    expect(effectiveRemaining(monthly, now)).toBe(3);
  });

  it("is the refill amount when the last refill is older than the current period", () => {
    const daily = state({
      refillAmount: 10,
      refillInterval: "daily",
      refilledAt: at("2026-11-26T23:59:59.999Z"),
    });
    expect(effectiveRemaining(daily, now)).toBe(10);
    const monthly = state({
      refillAmount: 10,
      refillInterval: "monthly",
      refilledAt: at("2026-10-31T23:59:59.999Z"),
    });
    expect(effectiveRemaining(monthly, now)).toBe(10);
    expect(
      effectiveRemaining(state({ refillAmount: 10, refillInterval: "daily", refilledAt: null }), now),
    ).toBe(10);
  });

  it("resets rather than adds, also down to a smaller amount", () => {
    const over = state({ remaining: 50, refillAmount: 10, refillInterval: "daily", refilledAt: 0 });
    expect(effectiveRemaining(over, now)).toBe(10);
  });
});

describe("effectiveRemaining agrees with the spend statement", () => {
  let t: TestApp;
  let keyId: string;
  beforeAll(async () => {
    t = await createTestApp();
    keyId = (await keyWith(t, { remaining: 1 })).id;
  });

  const day = 86_400_000;
  const stateArbitrary = fc.record({
    remaining: fc.integer({ min: 0, max: 1_000 }),
    refill: fc.option(
      fc.record({
        amount: fc.integer({ min: 0, max: 1_000 }),
        interval: fc.constantFrom("daily", "monthly"),
      }),
    ),
    refilledAt: fc.option(
      fc.integer({ min: at("2026-01-01T00:00:00.000Z"), max: at("2027-01-01T00:00:00.000Z") }),
    ),
    age: fc.integer({ min: 0, max: 70 * day }),
    cost: fc.integer({ min: 0, max: 1_000 }),
  });

  it("reads the balance a verify would spend from, and refuses exactly when it is short", async () => {
    const store = t.db.$client.prepare(
      "UPDATE keys SET remaining = ?, refill_amount = ?, refill_interval = ?, refilled_at = ? WHERE id = ?",
    );
    await fc.assert(
      fc.asyncProperty(stateArbitrary, async ({ remaining, refill, refilledAt, age, cost }) => {
        store.run(remaining, refill?.amount ?? null, refill?.interval ?? null, refilledAt, keyId);
        const now = (refilledAt ?? at("2026-06-01T00:00:00.000Z")) + age;
        const expected = effectiveRemaining(
          {
            remaining,
            refillAmount: refill?.amount ?? null,
            refillInterval: refill?.interval ?? null,
            refilledAt,
          },
          now,
        );
        const left = await t.deps.repos.keys.spendCredits(keyId, cost, now);
        expect(left).toBe(expected !== null && expected >= cost ? expected - cost : null);
      }),
      { numRuns: 300 },
    );
  });
});
