import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { VERIFY_CODES, type VerifyCode } from "../verify/verify.js";

export interface CacheStats {
  hits: number;
  misses: number;
  loads: number;
  size: number;
}

/** Every metric KeyMint exports, on a registry of its own (one per app, so tests never share counters). */
export function createMetrics(cacheStats: () => CacheStats) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const verifications = new Counter({
    name: "keymint_verifications_total",
    help: "Key verifications by outcome code.",
    labelNames: ["code"],
    registers: [registry],
  });
  // Every code exported from the start (at 0), so rate() and alerts see a series before its first event.
  for (const code of VERIFY_CODES) verifications.inc({ code }, 0);
  // Children bound once: the hot path does no label lookup.
  const verificationsByCode = new Map(VERIFY_CODES.map((code) => [code, verifications.labels(code)]));

  const verifyDuration = new Histogram({
    name: "keymint_verify_duration_seconds",
    help: "Time to verify a key, from parsed request to result.",
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });

  new Counter({
    name: "keymint_verify_cache_hits_total",
    help: "Verify lookups answered by the cache (known and known-unknown keys).",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(cacheStats().hits);
    },
  });
  new Counter({
    name: "keymint_verify_cache_misses_total",
    help: "Verify lookups that went to the database.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(cacheStats().misses);
    },
  });
  new Counter({
    name: "keymint_verify_cache_loads_total",
    help: "Verify cache misses that loaded the key and compared its hash (concurrent misses of one key share one load).",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(cacheStats().loads);
    },
  });
  new Gauge({
    name: "keymint_verify_cache_entries",
    help: "Keys held in the verify cache.",
    registers: [registry],
    collect() {
      this.set(cacheStats().size);
    },
  });

  const httpRequests = new Counter({
    name: "keymint_http_requests_total",
    help: "HTTP requests by route template, method and status.",
    labelNames: ["method", "route", "status"],
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: "keymint_http_request_duration_seconds",
    help: "HTTP request duration by route template, method and status.",
    labelNames: ["method", "route", "status"],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const httpChildren = new Map<string, { count: Counter.Internal; duration: Histogram.Internal<string> }>();

  return {
    registry,
    recordVerification(code: VerifyCode, seconds: number): void {
      verificationsByCode.get(code)?.inc();
      verifyDuration.observe(seconds);
    },
    /** `route` is the matched route template (never a raw path), so label values stay bounded. */
    recordHttpRequest(method: string, route: string, status: number, seconds: number): void {
      const id = `${method} ${route} ${status}`;
      let children = httpChildren.get(id);
      if (children === undefined) {
        const labels = { method, route, status: String(status) };
        children = { count: httpRequests.labels(labels), duration: httpDuration.labels(labels) };
        httpChildren.set(id, children);
      }
      children.count.inc();
      children.duration.observe(seconds);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
