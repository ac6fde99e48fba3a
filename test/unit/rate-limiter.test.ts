import { describe, expect, it } from "vitest";
import { RateLimiter } from "../../src/verify/rate-limiter.js";

const T = 1_000_000;
const rule = { limit: 3, durationMs: 10_000 };

describe("RateLimiter", () => {
  it("counts up to limit calls in a window that opens at the first call", () => {
    const limiter = new RateLimiter();
    expect(limiter.take("key_a", rule, T)).toStrictEqual({
      allowed: true,
      limit: 3,
      remaining: 2,
      resetAt: T + 10_000,
    });
    expect(limiter.take("key_a", rule, T + 1)).toStrictEqual({
      allowed: true,
      limit: 3,
      remaining: 1,
      resetAt: T + 10_000,
    });
    expect(limiter.take("key_a", rule, T + 2).remaining).toBe(0);
    expect(limiter.take("key_a", rule, T + 3)).toStrictEqual({
      allowed: false,
      limit: 3,
      remaining: 0,
      resetAt: T + 10_000,
    });
  });

  it("opens a new window exactly durationMs after the first", () => {
    const limiter = new RateLimiter();
    for (let i = 0; i < 3; i++) limiter.take("key_a", rule, T);
    expect(limiter.take("key_a", rule, T + 9_999).allowed).toBe(false);
    expect(limiter.take("key_a", rule, T + 10_000)).toStrictEqual({
      allowed: true,
      limit: 3,
      remaining: 2,
      resetAt: T + 20_000,
    });
  });

  it("does not count refused calls", () => {
    const limiter = new RateLimiter();
    for (let i = 0; i < 3; i++) limiter.take("key_a", rule, T);
    for (let i = 0; i < 100; i++) limiter.take("key_a", rule, T + 1_000);
    expect(limiter.peek("key_a", rule, T + 1_000)).toStrictEqual({
      limit: 3,
      remaining: 0,
      resetAt: T + 10_000,
    });
    expect(limiter.take("key_a", rule, T + 10_000).remaining).toBe(2);
  });

  it("peeks without counting, and shows a fresh window for a key it has not seen", () => {
    const limiter = new RateLimiter();
    expect(limiter.peek("key_a", rule, T)).toStrictEqual({ limit: 3, remaining: 3, resetAt: T + 10_000 });
    limiter.take("key_a", rule, T);
    expect(limiter.peek("key_a", rule, T + 5)).toStrictEqual({ limit: 3, remaining: 2, resetAt: T + 10_000 });
    expect(limiter.peek("key_a", rule, T + 5)).toStrictEqual({ limit: 3, remaining: 2, resetAt: T + 10_000 });
    expect(limiter.peek("key_a", rule, T + 10_000)).toStrictEqual({
      limit: 3,
      remaining: 3,
      resetAt: T + 20_000,
    });
  });

  it("keeps one window per key", () => {
    const limiter = new RateLimiter();
    const one = { limit: 1, durationMs: 1_000 };
    expect(limiter.take("key_a", one, T).allowed).toBe(true);
    expect(limiter.take("key_b", one, T).allowed).toBe(true);
    expect(limiter.take("key_a", one, T).allowed).toBe(false);
  });

  it("applies a lowered limit to the window under way", () => {
    const limiter = new RateLimiter();
    limiter.take("key_a", rule, T);
    limiter.take("key_a", rule, T);
    const lower = { limit: 1, durationMs: 10_000 };
    expect(limiter.take("key_a", lower, T + 1)).toStrictEqual({
      allowed: false,
      limit: 1,
      remaining: 0,
      resetAt: T + 10_000,
    });
    expect(limiter.peek("key_a", lower, T + 1).remaining).toBe(0);
  });

  it("forgets a key's window", () => {
    const limiter = new RateLimiter();
    for (let i = 0; i < 3; i++) limiter.take("key_a", rule, T);
    limiter.forget("key_a");
    expect(limiter.take("key_a", rule, T + 1).allowed).toBe(true);
  });

  it("hands a key's window over to another key, count and end, and counts the first key's calls in it still", () => {
    const limiter = new RateLimiter();
    for (let i = 0; i < 2; i++) limiter.take("key_a", rule, T);
    limiter.handOver("key_a", "key_b");
    expect(limiter.peek("key_b", rule, T + 1)).toStrictEqual({ limit: 3, remaining: 1, resetAt: T + 10_000 });
    // A call that read the key before the hand-over counts in the same window, not a fresh one.
    expect(limiter.take("key_a", rule, T + 1)).toMatchObject({
      allowed: true,
      remaining: 0,
      resetAt: T + 10_000,
    });
    expect(limiter.take("key_b", rule, T + 2).allowed).toBe(false);
    limiter.handOver("key_c", "key_d"); // a key with no window hands over nothing
    expect(limiter.size).toBe(2);
    // Both names of the window go once it has ended, by the sweep.
    for (let i = 0; i < 4; i++) limiter.take(`key_other${i}`, rule, T + 10_000);
    expect(limiter.size).toBe(4);
  });

  it("never drops a window that is still running, however many keys are in one", () => {
    const limiter = new RateLimiter();
    const oncePerDay = { limit: 1, durationMs: 86_400_000 };
    expect(limiter.take("key_a", oncePerDay, T).allowed).toBe(true);
    for (let i = 0; i < 50_000; i++) limiter.take(`key_${i}`, oncePerDay, T + 1);
    expect(limiter.take("key_a", oncePerDay, T + 2)).toStrictEqual({
      allowed: false,
      limit: 1,
      remaining: 0,
      resetAt: T + 86_400_000,
    });
    expect(limiter.size).toBe(50_001);
  });

  it("keeps running a window whose duration was raised while it ran, through a sweep", () => {
    const limiter = new RateLimiter();
    expect(limiter.take("key_a", { limit: 1, durationMs: 1_000 }, T).allowed).toBe(true);
    const raised = { limit: 1, durationMs: 60_000 };
    limiter.ruleChanged("key_a", raised.durationMs, T + 500);
    // A sweep at T + 1.5 s: by the old rule the window ended at T + 1 s, by the one in force at T + 60 s.
    for (let i = 0; i < 10_000; i++) limiter.take(`key_${i}`, { limit: 1, durationMs: 1_000 }, T + 1_500);
    expect(limiter.take("key_a", raised, T + 1_500)).toMatchObject({ allowed: false, resetAt: T + 60_000 });
    expect(limiter.peek("key_a", raised, T + 1_500)).toMatchObject({ remaining: 0, resetAt: T + 60_000 });
  });

  it("ends a running window at once when its duration is lowered below the time it has run", () => {
    const limiter = new RateLimiter();
    expect(limiter.take("key_a", { limit: 1, durationMs: 60_000 }, T).allowed).toBe(true);
    limiter.ruleChanged("key_a", 1_000, T + 5_000);
    expect(limiter.take("key_a", { limit: 1, durationMs: 1_000 }, T + 5_000)).toStrictEqual({
      allowed: true,
      limit: 1,
      remaining: 0,
      resetAt: T + 6_000,
    });
  });

  it("leaves an ended window ended when the duration is raised afterwards, swept or not", () => {
    for (const swept of [false, true]) {
      const limiter = new RateLimiter();
      expect(limiter.take("key_a", { limit: 1, durationMs: 1_000 }, T).allowed).toBe(true);
      if (swept)
        for (let i = 0; i < 10_000; i++) limiter.take(`key_${i}`, { limit: 1, durationMs: 1 }, T + 1_100);
      limiter.ruleChanged("key_a", 60_000, T + 1_200);
      expect(
        limiter.take("key_a", { limit: 1, durationMs: 60_000 }, T + 1_500),
        `swept: ${swept}`,
      ).toMatchObject({
        allowed: true,
        resetAt: T + 61_500,
      });
    }
  });

  it("sweeps ended windows out a few at a time as new ones open: memory follows the windows running", () => {
    const limiter = new RateLimiter();
    const perSecond = { limit: 1, durationMs: 1_000 };
    for (let i = 0; i < 10_000; i++) limiter.take(`key_${i}`, perSecond, T);
    expect(limiter.size).toBe(10_000);
    // A second later those have ended. One opening sweeps a few of them out, not all at once...
    limiter.take("late_0", perSecond, T + 1_000);
    expect(limiter.size).toBeGreaterThan(9_990);
    expect(limiter.size).toBeLessThan(10_001);
    // ...each of the next openings sweeps a few more, so the count falls while windows open...
    for (let i = 1; i < 100; i++) limiter.take(`late_${i}`, perSecond, T + 1_000);
    expect(limiter.size).toBeLessThan(10_000);
    // ...and as windows keep opening, every ended one goes.
    for (let i = 100; i < 10_000; i++) limiter.take(`late_${i}`, perSecond, T + 1_000);
    expect(limiter.size).toBe(10_000);
    expect(limiter.take("late_0", perSecond, T + 1_001).allowed).toBe(false);
    expect(limiter.take("key_0", perSecond, T + 1_001).allowed).toBe(true);
  });

  it("holds about a third more windows than are running when they open and end at a steady rate", () => {
    const limiter = new RateLimiter();
    const perSecond = { limit: 1, durationMs: 1_000 };
    // 100 new keys every 10 ms, each window a second long: 10,000 running at any time.
    let most = 0;
    for (let tick = 0; tick < 1_000; tick++) {
      for (let i = 0; i < 100; i++) limiter.take(`key_${tick}_${i}`, perSecond, T + tick * 10);
      most = Math.max(most, limiter.size);
    }
    expect(most).toBeLessThan(10_000 * 1.4);
  });
});
