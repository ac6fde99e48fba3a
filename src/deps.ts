import type { Caller } from "./auth/caller.js";
import { FailureThrottle } from "./auth/failure-throttle.js";
import type { Config } from "./config.js";
import { loadConfig } from "./config.js";
import type { Db } from "./db/client.js";
import { Argon2Queue } from "./keys/argon2-queue.js";
import { randomBase62 } from "./keys/base62.js";
import { type Clock, systemClock } from "./lib/clock.js";
import { CursorCodec } from "./lib/cursor.js";
import { createLogger, type Logger } from "./observability/logger.js";
import { createMetrics, type Metrics } from "./observability/metrics.js";
import { RequestLog } from "./observability/request-log.js";
import { createRepos, type Repos } from "./repo/index.js";
import { RecordCache } from "./verify/cache.js";
import { RateLimiter } from "./verify/rate-limiter.js";
import { UsageBuffer } from "./verify/usage-buffer.js";
import type { VerifyCache } from "./verify/verify.js";

/** How long an unknown (well-formed) key is remembered as unknown. */
const NEGATIVE_CACHE_TTL_MS = 5_000;
/** Root keys are few; their cache needs no more room than this. */
const ROOT_KEY_CACHE_MAX = 10_000;

/** Everything the app needs, built once and passed in: no module holds a global database or cache. */
export interface AppDeps {
  config: Config;
  repos: Repos;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  requestLog: RequestLog;
  keyCache: VerifyCache;
  rootKeyCache: RecordCache<Caller>;
  rateLimiter: RateLimiter;
  /** Whose argon2 computation runs next, and which are dropped at shutdown. */
  argon2: Argon2Queue;
  tokenThrottle: FailureThrottle;
  usage: UsageBuffer;
  cursors: CursorCodec;
}

export interface DepsOptions {
  db: Db;
  config?: Partial<Config>;
  clock?: Clock;
  logger?: Logger;
}

export async function createDeps(options: DepsOptions): Promise<AppDeps> {
  const config = { ...loadConfig({}), ...options.config };
  const repos = createRepos(options.db);
  const cacheOptions = {
    max: config.KEYMINT_CACHE_MAX,
    ttlMs: config.KEYMINT_CACHE_TTL_MS,
    negativeTtlMs: NEGATIVE_CACHE_TTL_MS,
  };
  const keyCache: VerifyCache = new RecordCache(cacheOptions);
  const cursorSecret = await repos.settings.getOrCreate("cursor_secret", () => randomBase62(43));
  const logger = options.logger ?? createLogger({ level: config.LOG_LEVEL });
  const metrics = createMetrics(
    () => ({ hits: keyCache.hits, misses: keyCache.misses, loads: keyCache.loads, size: keyCache.size }),
    // Read from deps when /metrics is read: the queue is the one in use then (tests swap it).
    () => ({ begun: deps.argon2.begunCount, waiting: deps.argon2.waitingCount }),
  );
  const clock = options.clock ?? systemClock;
  const deps: AppDeps = {
    config,
    repos,
    clock,
    logger,
    metrics,
    requestLog: new RequestLog(logger, metrics),
    keyCache,
    rootKeyCache: new RecordCache({ ...cacheOptions, max: Math.min(cacheOptions.max, ROOT_KEY_CACHE_MAX) }),
    // Unbounded by design: a running window must never be dropped (see RateLimiter).
    rateLimiter: new RateLimiter(),
    argon2: new Argon2Queue(config.KEYMINT_ARGON2_CONCURRENCY, config.KEYMINT_ARGON2_MAX_WAIT_MS),
    tokenThrottle: new FailureThrottle(),
    usage: new UsageBuffer(repos, clock),
    cursors: new CursorCodec(cursorSecret),
  };
  return deps;
}
