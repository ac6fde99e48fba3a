import { isIPv4, isIPv6 } from "node:net";
import { LRUCache } from "lru-cache";
import { ApiError } from "../lib/errors.js";

interface FailureWindow {
  startedAt: number;
  failures: number;
}

// observe-requests.ts passes only an address (or null), but the throttle does not rely on its caller
// for its memory bound: no string makes a longer cache key.
const MAX_CLIENT_LENGTH = 64;

/**
 * Counts failed authentications with the operator-chosen tokens (admin, metrics) per client in
 * one-minute windows: such a token may be short enough to guess. Past the threshold, further failures
 * are answered 429 with Retry-After. Successful calls are never counted nor slowed. Memory is bounded
 * by the LRU. Root keys are not throttled (root-key-auth.ts).
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

  /** How many clients are being tracked (never more than maxTrackedClients). */
  get trackedClients(): number {
    return this.windows.size;
  }
}

/**
 * The unit a client is throttled as: its IPv4 address, or its IPv6 /64, the block one subscriber
 * gets and can rotate through at will. An IPv4-mapped IPv6 address counts as the IPv4 address.
 */
export function throttleKey(clientIp: string | null): string {
  if (clientIp === null) return "unknown";
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(clientIp)?.[1];
  if (mapped !== undefined && isIPv4(mapped)) return mapped;
  if (isIPv6(clientIp)) return ipv6Slash64(clientIp);
  return clientIp.slice(0, MAX_CLIENT_LENGTH);
}

function ipv6Slash64(ip: string): string {
  const [head = "", tail] = (ip.split("%")[0] ?? "").split("::");
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  // An embedded IPv4 tail ("::ffff:1.2.3.4") stands for two groups.
  const width = (part: string[]) => part.reduce((sum, group) => sum + (group.includes(".") ? 2 : 1), 0);
  const zeros = Array<string>(Math.max(0, 8 - width(left) - width(right))).fill("0");
  const full = [...left, ...zeros, ...right];
  return `${full
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(":")}::/64`;
}

/** The error for a failed authentication: 401, or 429 with Retry-After once the client is over the threshold. */
export function authenticationFailure(
  throttle: FailureThrottle,
  clientIp: string | null,
  now: number,
  detail: string,
) {
  const retryAfter = throttle.recordFailure(throttleKey(clientIp), now);
  if (retryAfter === null) return new ApiError("UNAUTHORIZED", detail);
  return new ApiError("RATE_LIMITED", "Too many failed authentication attempts.", undefined, {
    "retry-after": String(retryAfter),
  });
}
