export interface RateLimit {
  limit: number;
  durationMs: number;
}

export interface RateLimitState {
  limit: number;
  remaining: number;
  /** When the current window ends (ms since epoch). */
  resetAt: number;
}

interface Window {
  startedAt: number;
  count: number;
  /** When the window ends: `startedAt + durationMs` by the rule in force while it runs. */
  endsAt: number;
}

/** The fewest windows held before a sweep for ended ones runs. */
const FIRST_SWEEP_AT = 10_000;

/**
 * Per-key rate windows, in this node's memory. A window opens at the first counted call and lasts
 * `durationMs`; within it at most `limit` calls are counted.
 *
 * - A window's end is set when it opens, and moved only by `ruleChanged` while it runs (a PATCH of
 *   the key's `durationMs`): a window that has ended stays ended, whatever the rule becomes, so an
 *   answer never depends on whether a sweep has run.
 * - A window is never dropped while it runs: dropping one (as a bounded LRU would, once more keys are
 *   in a window than it holds) would give its key a fresh `limit` before `resetAt`. So memory follows
 *   the rate-limited keys called within their window, one small entry each; ended windows are swept
 *   out whenever the count of windows held has doubled since the last sweep, which keeps the sweeps'
 *   cost per call constant.
 */
export class RateLimiter {
  private readonly windows = new Map<string, Window>();
  private sweepAt = FIRST_SWEEP_AT;

  /** Counts a call when the window has room; `allowed` is false (and nothing is counted) otherwise. */
  take(keyId: string, rule: RateLimit, now: number): RateLimitState & { allowed: boolean } {
    let window = this.windows.get(keyId);
    if (window === undefined || now >= window.endsAt) {
      window = { startedAt: now, count: 0, endsAt: now + rule.durationMs };
      this.windows.set(keyId, window);
      if (this.windows.size >= this.sweepAt) this.sweep(now);
    }
    const resetAt = window.endsAt;
    if (window.count >= rule.limit) return { allowed: false, limit: rule.limit, remaining: 0, resetAt };
    window.count++;
    return { allowed: true, limit: rule.limit, remaining: rule.limit - window.count, resetAt };
  }

  /** The state a call would see, without counting it. */
  peek(keyId: string, rule: RateLimit, now: number): RateLimitState {
    const window = this.windows.get(keyId);
    if (window === undefined || now >= window.endsAt) {
      return { limit: rule.limit, remaining: rule.limit, resetAt: now + rule.durationMs };
    }
    return { limit: rule.limit, remaining: Math.max(0, rule.limit - window.count), resetAt: window.endsAt };
  }

  /**
   * A key's `durationMs` changed (PATCH): its window, if one is running, now ends by the new rule
   * (at once, if the new duration has already passed). An ended window is left ended.
   */
  ruleChanged(keyId: string, durationMs: number, now: number): void {
    const window = this.windows.get(keyId);
    if (window !== undefined && now < window.endsAt) window.endsAt = window.startedAt + durationMs;
  }

  forget(keyId: string): void {
    this.windows.delete(keyId);
  }

  get size(): number {
    return this.windows.size;
  }

  private sweep(now: number): void {
    for (const [keyId, window] of this.windows) if (now >= window.endsAt) this.windows.delete(keyId);
    this.sweepAt = Math.max(FIRST_SWEEP_AT, 2 * this.windows.size);
  }
}
