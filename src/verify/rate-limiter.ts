import { LRUCache } from "lru-cache";

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
}

/**
 * Per-key rate windows, in this node's memory. A window opens at the first counted call and lasts
 * `durationMs`; within it at most `limit` calls are counted. Memory is bounded: the least recently
 * used windows are dropped first, and an idle key's window has expired by then anyway.
 */
export class RateLimiter {
  private readonly windows: LRUCache<string, Window>;

  constructor(maxTrackedKeys = 500_000) {
    this.windows = new LRUCache<string, Window>({ max: maxTrackedKeys });
  }

  /** Counts a call when the window has room; `allowed` is false (and nothing is counted) otherwise. */
  take(keyId: string, rule: RateLimit, now: number): RateLimitState & { allowed: boolean } {
    let window = this.windows.get(keyId);
    if (window === undefined || now >= window.startedAt + rule.durationMs) {
      window = { startedAt: now, count: 0 };
      this.windows.set(keyId, window);
    }
    const resetAt = window.startedAt + rule.durationMs;
    if (window.count >= rule.limit) return { allowed: false, limit: rule.limit, remaining: 0, resetAt };
    window.count++;
    return { allowed: true, limit: rule.limit, remaining: rule.limit - window.count, resetAt };
  }

  /** The state a call would see, without counting it. */
  peek(keyId: string, rule: RateLimit, now: number): RateLimitState {
    const window = this.windows.peek(keyId);
    if (window === undefined || now >= window.startedAt + rule.durationMs) {
      return { limit: rule.limit, remaining: rule.limit, resetAt: now + rule.durationMs };
    }
    return {
      limit: rule.limit,
      remaining: Math.max(0, rule.limit - window.count),
      resetAt: window.startedAt + rule.durationMs,
    };
  }

  forget(keyId: string): void {
    this.windows.delete(keyId);
  }

  get size(): number {
    return this.windows.size;
  }
}
