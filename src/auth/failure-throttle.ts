import { LRUCache } from "lru-cache";
import { ApiError } from "../lib/errors.js";

interface FailureWindow {
  startedAt: number;
  failures: number;
}

/**
 * Counts failed authentications per client IP in one-minute windows. Past the threshold, further
 * failures are answered 429 with Retry-After. Successful calls are never counted nor slowed.
 * Memory is bounded by the LRU.
 */
export class FailureThrottle {
  private readonly windows: LRUCache<string, FailureWindow>;

  constructor(
    private readonly maxFailures = 30,
    private readonly windowMs = 60_000,
    maxTrackedClients = 100_000,
  ) {
    this.windows = new LRUCache({ max: maxTrackedClients });
  }

  /** Records a failure; returns seconds to wait when the client is over the threshold, else null. */
  recordFailure(client: string, now: number): number | null {
    let window = this.windows.get(client);
    if (window === undefined || now >= window.startedAt + this.windowMs) {
      window = { startedAt: now, failures: 0 };
      this.windows.set(client, window);
    }
    window.failures++;
    if (window.failures <= this.maxFailures) return null;
    return Math.max(1, Math.ceil((window.startedAt + this.windowMs - now) / 1000));
  }
}

/** The error for a failed authentication: 401, or 429 with Retry-After once the client is over the threshold. */
export function authenticationFailure(
  throttle: FailureThrottle,
  client: string | null,
  now: number,
  detail: string,
) {
  const retryAfter = throttle.recordFailure(client ?? "unknown", now);
  if (retryAfter === null) return new ApiError("UNAUTHORIZED", detail);
  return new ApiError("RATE_LIMITED", "Too many failed authentication attempts.", undefined, {
    "retry-after": String(retryAfter),
  });
}
