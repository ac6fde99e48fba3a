import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { VERIFY_CODES, type VerifyCode } from "../verify/verify.js";
import { type HistogramSeries, HotHistogram } from "./hot-histogram.js";

export interface CacheStats {
  hits: number;
  misses: number;
  loads: number;
  size: number;
}

export interface Argon2Stats {
  begun: number;
  waiting: number;
}

/** Every metric KeyMint exports, on a registry of its own (one per app, so tests never share counters). */
export function createMetrics(cacheStats: () => CacheStats, argon2Stats: () => Argon2Stats) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  // Counted in plain numbers on the hot path and handed to prom-client when /metrics is read:
  // prom-client's own inc() checks and hashes its labels on every call (see HotHistogram).
  const verificationCounts = Object.fromEntries(VERIFY_CODES.map((code) => [code, 0])) as Record<
    VerifyCode,
    number
  >;
  new Counter({
    name: "keymint_verifications_total",
    help: "Key verifications by outcome code.",
    labelNames: ["code"],
    registers: [registry],
    // Every code exported from the start (at 0), so rate() and alerts see a series before its first event.
    collect() {
      this.reset();
      for (const code of VERIFY_CODES) this.inc({ code }, verificationCounts[code]);
    },
  });

  const verifyDuration = new HotHistogram(
    "keymint_verify_duration_seconds",
    "Time to verify a key, from parsed request to result.",
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registry,
  ).addSeries({});

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
    help: "Verify lookups the cache did not answer (each waits for a load, its own or one under way).",
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

  // argon2id work is the one request-path cost measured in milliseconds: what it takes, and what waits.
  new Counter({
    name: "keymint_argon2_computations_total",
    help: "argon2id computations begun: a new key hashed, or a presented key checked on a cache miss.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(argon2Stats().begun);
    },
  });
  new Gauge({
    name: "keymint_argon2_waiting",
    help: "argon2id computations waiting for a turn (KEYMINT_ARGON2_CONCURRENCY run at once).",
    registers: [registry],
    collect() {
      this.set(argon2Stats().waiting);
    },
  });

  // A series' request count is its duration histogram's count: one observation feeds both.
  new Counter({
    name: "keymint_http_requests_total",
    help: "HTTP requests by route template, method and status.",
    labelNames: ["method", "route", "status"],
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, count } of httpDuration.allSeries()) this.inc(labels, count);
    },
  });
  const httpDuration = new HotHistogram<"method" | "route" | "status">(
    "keymint_http_request_duration_seconds",
    "HTTP request duration by route template, method and status.",
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registry,
  );
  const httpSeries = new Map<string, HistogramSeries<"method" | "route" | "status">>();

  return {
    registry,
    recordVerification(code: VerifyCode, seconds: number): void {
      verificationCounts[code]++;
      verifyDuration.observe(seconds);
    },
    /** `route` is the matched route template (never a raw path), so label values stay bounded. */
    recordHttpRequest(method: string, route: string, status: number, seconds: number): void {
      const id = `${method} ${route} ${status}`;
      let series = httpSeries.get(id);
      if (series === undefined) {
        series = httpDuration.addSeries({ method, route, status: String(status) });
        httpSeries.set(id, series);
      }
      series.observe(seconds);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
