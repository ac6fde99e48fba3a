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

/**
 * Windows looked at, for an end, each time a window opens: more than the one that opened, so that a
 * pass over all of them finishes and the ended ones go, a few at a time, never in one long sweep.
 */
const SWEEP_STEPS = 4;

/**
 * Per-key rate windows, in this node's memory. A window opens at the first counted call and lasts
 * `durationMs`; within it at most `limit` calls are counted.
 *
 * - A window's end is set when it opens, and moved only by `ruleChanged` while it runs (a PATCH of
 *   the key's `durationMs`): a window that has ended stays ended, whatever the rule becomes, so an
 *   answer never depends on whether a sweep has run.
 * - A window is never dropped while it runs: dropping one (as a bounded LRU would, once more keys are
 *   in a window than it holds) would give its key a fresh `limit` before `resetAt`. So memory grows
 *   with the rate-limited keys called within their window, one small entry each. Ended windows are
 *   swept out as new ones open: each opening looks at the next SWEEP_STEPS windows in a pass that goes
 *   round and round, so the cost stays a few map steps per call. (Sweeping all of them at once, when
 *   their count had doubled, paused one call for tens of milliseconds at a million windows.) While
 *   windows open at a steady rate, about a third more entries than running windows are held; when
 *   openings stop, the ended windows stay (a few bytes each) until openings resume and sweep them.
 */
export class RateLimiter {
  private readonly windows = new Map<string, Window>();
  /** Where the sweep has got to: a Map's iterator goes on past deletions and sees what is added. */
  private sweep: MapIterator<[string, Window]> | undefined;

  /** Counts a call when the window has room; `allowed` is false (and nothing is counted) otherwise. */
  take(keyId: string, rule: RateLimit, now: number): RateLimitState & { allowed: boolean } {
    let window = this.windows.get(keyId);
    if (window === undefined || now >= window.endsAt) {
      window = { startedAt: now, count: 0, endsAt: now + rule.durationMs };
      this.windows.set(keyId, window);
      this.sweepSome(now);
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

  /**
   * A rotation: the new key takes over the old key's window, count and end, as it takes over its
   * credits, so that rotating never hands out a fresh `limit`. (The old key, in its grace period,
   * counts in the new key's window too: verify.ts keys windows as credits are.) The old key's id
   * still names the same window, so that a verify that read the key before the rotation and counts
   * after it counts there too, not in a fresh window of its own.
   */
  handOver(fromKeyId: string, toKeyId: string): void {
    const window = this.windows.get(fromKeyId);
    if (window !== undefined) this.windows.set(toKeyId, window);
  }

  forget(keyId: string): void {
    this.windows.delete(keyId);
  }

  get size(): number {
    return this.windows.size;
  }

  private sweepSome(now: number): void {
    for (let step = 0; step < SWEEP_STEPS; step++) {
      this.sweep ??= this.windows.entries();
      const next = this.sweep.next();
      if (next.done) {
        this.sweep = undefined; // the next opening starts a new pass
        return;
      }
      const [keyId, window] = next.value;
      if (now >= window.endsAt) this.windows.delete(keyId);
    }
  }
}
