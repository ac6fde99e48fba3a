import { LRUCache } from "lru-cache";

// lru-cache holds on to the `performance` it found when first imported; looking it up on each call
// lets a test's fake timers drive the TTLs.
const monotonic = { now: () => performance.now() };

export interface RecordCacheOptions {
  max: number;
  ttlMs: number;
  /** Upper bound on how long an unknown key is remembered as unknown. */
  negativeTtlMs: number;
}

/**
 * An LRU of records keyed by the SHA-256 of the presented secret (never the secret itself).
 *
 * - Unknown secrets are remembered briefly in a separate, smaller LRU, so a flood of made-up keys
 *   can neither reach the database on every call nor push real keys out of the cache.
 * - Concurrent misses for one secret share one load (single flight): a burst on a cold argon2 key hashes once.
 * - `invalidate(id)` drops the record before the change's response is sent. A load that was under way
 *   when an invalidation happened is not cached, so a change is never overwritten by a stale read.
 */
export class RecordCache<T extends { id: string }> {
  private readonly records: LRUCache<string, T>;
  private readonly unknown: LRUCache<string, true>;
  private readonly digestById = new Map<string, string>();
  private inflight = new Map<string, Promise<T | null>>();
  private generation = 0;
  hits = 0;
  misses = 0;
  /** Misses that ran a load (database lookup and hash compare); concurrent misses of one secret share one. */
  loads = 0;

  constructor(options: RecordCacheOptions) {
    this.records = new LRUCache<string, T>({
      max: options.max,
      ttl: options.ttlMs,
      perf: monotonic,
      dispose: (record, digest) => {
        if (this.digestById.get(record.id) === digest) this.digestById.delete(record.id);
      },
    });
    this.unknown = new LRUCache<string, true>({
      max: Math.max(1_000, Math.ceil(options.max / 10)),
      ttl: Math.min(options.negativeTtlMs, options.ttlMs),
      perf: monotonic,
    });
  }

  get size(): number {
    return this.records.size;
  }

  /**
   * The cached record, or null when the secret is known to be unknown, counted as a hit; undefined
   * when it is not cached. Lets a hit skip making a loader (and an await) at all.
   */
  cached(digest: string): T | null | undefined {
    const record = this.records.get(digest);
    if (record !== undefined) {
      this.hits++;
      return record;
    }
    if (this.unknown.has(digest)) {
      this.hits++;
      return null;
    }
    return undefined;
  }

  /** A miss (after `cached` gave undefined): loads the record, sharing a load already under way. */
  load(digest: string, load: () => Promise<T | null>): Promise<T | null> {
    this.misses++;
    const pending = this.inflight.get(digest);
    if (pending) return pending;
    this.loads++;
    const loading = this.loadOnce(digest, load);
    this.inflight.set(digest, loading);
    return loading;
  }

  private async loadOnce(digest: string, load: () => Promise<T | null>): Promise<T | null> {
    const startedAt = this.generation;
    const inflight = this.inflight;
    try {
      const record = await load();
      if (this.generation === startedAt) {
        if (record === null) this.unknown.set(digest, true);
        else {
          this.records.set(digest, record);
          this.digestById.set(record.id, digest);
        }
      }
      return record;
    } finally {
      if (inflight.get(digest)) inflight.delete(digest);
    }
  }

  /** Forgets the record with this id. Loads under way are not cached and not shared with later calls. */
  invalidate(id: string): void {
    this.generation++;
    this.inflight = new Map();
    const digest = this.digestById.get(id);
    if (digest !== undefined) this.records.delete(digest);
  }

  clear(): void {
    this.generation++;
    this.inflight = new Map();
    this.records.clear();
    this.unknown.clear();
  }
}
