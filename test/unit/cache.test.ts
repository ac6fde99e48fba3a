import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RecordCache } from "../../src/verify/cache.js";
import { deferred, resolve } from "../support/verify.js";

interface Rec {
  id: string;
  version: number;
}

const options = { max: 100, ttlMs: 60_000, negativeTtlMs: 5_000 };

describe("RecordCache", () => {
  let cache: RecordCache<Rec>;
  beforeEach(() => {
    vi.useFakeTimers();
    // Fake performance.now() starts at 0, which lru-cache reads as "no start time".
    vi.advanceTimersByTime(1_000);
    cache = new RecordCache<Rec>(options);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const loader = (record: Rec | null) => vi.fn(async () => record);

  it("loads on a miss, then answers from memory and counts hits and misses", async () => {
    const load = loader({ id: "key_a", version: 1 });
    expect(await resolve(cache, "d1", load)).toStrictEqual({ id: "key_a", version: 1 });
    expect(await resolve(cache, "d1", load)).toStrictEqual({ id: "key_a", version: 1 });
    expect(await resolve(cache, "d1", load)).toStrictEqual({ id: "key_a", version: 1 });
    expect(load).toHaveBeenCalledTimes(1);
    expect({ hits: cache.hits, misses: cache.misses, size: cache.size }).toStrictEqual({
      hits: 2,
      misses: 1,
      size: 1,
    });
  });

  it("remembers an unknown digest, counts it as a hit, and keeps it out of the record count", async () => {
    const load = loader(null);
    expect(await resolve(cache, "unknown", load)).toBeNull();
    expect(await resolve(cache, "unknown", load)).toBeNull();
    expect(load).toHaveBeenCalledTimes(1);
    expect({ hits: cache.hits, misses: cache.misses, size: cache.size }).toStrictEqual({
      hits: 1,
      misses: 1,
      size: 0,
    });
  });

  it("forgets a record once ttlMs has passed", async () => {
    const load = loader({ id: "key_a", version: 1 });
    await resolve(cache, "d1", load);
    vi.advanceTimersByTime(60_000);
    await resolve(cache, "d1", load);
    expect(load).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    await resolve(cache, "d1", load);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it("forgets an unknown digest once the negative TTL has passed", async () => {
    const load = loader(null);
    await resolve(cache, "unknown", load);
    vi.advanceTimersByTime(5_000);
    await resolve(cache, "unknown", load);
    expect(load).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    await resolve(cache, "unknown", load);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it("never remembers an unknown digest longer than a record", async () => {
    const short = new RecordCache<Rec>({ max: 10, ttlMs: 1_000, negativeTtlMs: 5_000 });
    const load = loader(null);
    await resolve(short, "unknown", load);
    vi.advanceTimersByTime(1_001);
    await resolve(short, "unknown", load);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it("shares one load among concurrent misses of one digest", async () => {
    const gate = deferred<Rec>();
    const load = vi.fn(() => gate.promise);
    const waiting = Promise.all(Array.from({ length: 50 }, () => resolve(cache, "d1", load)));
    gate.resolve({ id: "key_a", version: 1 });
    const records = await waiting;
    expect(load).toHaveBeenCalledTimes(1);
    expect(new Set(records).size).toBe(1);
    expect(cache.misses).toBe(50);
  });

  it("drops a record on invalidate(id), so the next resolve loads it again", async () => {
    let version = 1;
    const load = vi.fn(async () => ({ id: "key_a", version }));
    await resolve(cache, "d1", load);
    version = 2;
    cache.invalidate("key_a");
    expect(await resolve(cache, "d1", load)).toStrictEqual({ id: "key_a", version: 2 });
    expect(load).toHaveBeenCalledTimes(2);
  });

  it("does not cache a load that was under way when the record was invalidated", async () => {
    const stale = deferred<Rec>();
    const staleLoad = vi.fn(() => stale.promise);
    const inFlight = resolve(cache, "d1", staleLoad);
    cache.invalidate("key_a");
    // A resolve after the invalidation does not join the stale load.
    const freshLoad = loader({ id: "key_a", version: 2 });
    const fresh = resolve(cache, "d1", freshLoad);
    stale.resolve({ id: "key_a", version: 1 });
    expect(await inFlight).toStrictEqual({ id: "key_a", version: 1 });
    expect(await fresh).toStrictEqual({ id: "key_a", version: 2 });
    expect(freshLoad).toHaveBeenCalledTimes(1);
    const after = loader({ id: "key_a", version: 3 });
    expect(await resolve(cache, "d1", after)).toStrictEqual({ id: "key_a", version: 2 });
    expect(after).not.toHaveBeenCalled();
  });

  it("does not cache a stale load even when it settles after the fresh one", async () => {
    const stale = deferred<Rec>();
    const inFlight = resolve(cache, "d1", () => stale.promise);
    cache.invalidate("key_a");
    expect(await resolve(cache, "d1", loader({ id: "key_a", version: 2 }))).toStrictEqual({
      id: "key_a",
      version: 2,
    });
    stale.resolve({ id: "key_a", version: 1 });
    await inFlight;
    const after = loader({ id: "key_a", version: 3 });
    expect(await resolve(cache, "d1", after)).toStrictEqual({ id: "key_a", version: 2 });
    expect(after).not.toHaveBeenCalled();
  });

  it("does not cache an unknown answer loaded while a key was invalidated", async () => {
    const stale = deferred<Rec | null>();
    const inFlight = resolve(cache, "d1", () => stale.promise);
    cache.invalidate("key_other");
    stale.resolve(null);
    expect(await inFlight).toBeNull();
    const load = loader({ id: "key_a", version: 1 });
    expect(await resolve(cache, "d1", load)).toStrictEqual({ id: "key_a", version: 1 });
    expect(load).toHaveBeenCalledTimes(1);
  });

  it("passes a failed load's error to every waiter and caches nothing", async () => {
    const gate = deferred<Rec>();
    let fail = true;
    const load = vi.fn(() => (fail ? Promise.reject(new Error("database is locked")) : gate.promise));
    const results = await Promise.allSettled([resolve(cache, "d1", load), resolve(cache, "d1", load)]);
    expect(results.map((result) => result.status)).toStrictEqual(["rejected", "rejected"]);
    expect(load).toHaveBeenCalledTimes(1);
    fail = false;
    gate.resolve({ id: "key_a", version: 1 });
    expect(await resolve(cache, "d1", load)).toStrictEqual({ id: "key_a", version: 1 });
    expect(load).toHaveBeenCalledTimes(2);
  });

  it("holds at most max records, evicting the least recently used", async () => {
    const small = new RecordCache<Rec>({ max: 3, ttlMs: 60_000, negativeTtlMs: 5_000 });
    for (const name of ["a", "b", "c"]) await resolve(small, name, loader({ id: `key_${name}`, version: 1 }));
    await resolve(small, "a", loader(null));
    await resolve(small, "d", loader({ id: "key_d", version: 1 }));
    expect(small.size).toBe(3);
    const reload = loader({ id: "key_b", version: 2 });
    expect(await resolve(small, "b", reload)).toStrictEqual({ id: "key_b", version: 2 });
    expect(reload).toHaveBeenCalledTimes(1);
    const kept = loader(null);
    expect(await resolve(small, "a", kept)).toStrictEqual({ id: "key_a", version: 1 });
    expect(kept).not.toHaveBeenCalled();
  });

  it("keeps real records through a flood of unknown digests", async () => {
    const small = new RecordCache<Rec>({ max: 10, ttlMs: 60_000, negativeTtlMs: 5_000 });
    for (let i = 0; i < 10; i++) await resolve(small, `real${i}`, loader({ id: `key_${i}`, version: 1 }));
    for (let i = 0; i < 20_000; i++) await resolve(small, `made-up${i}`, loader(null));
    const load = loader(null);
    for (let i = 0; i < 10; i++)
      expect(await resolve(small, `real${i}`, load)).toStrictEqual({ id: `key_${i}`, version: 1 });
    expect(load).not.toHaveBeenCalled();
    expect(small.size).toBe(10);
  });

  it("still invalidates a record after an eviction reused its slot", async () => {
    const small = new RecordCache<Rec>({ max: 1, ttlMs: 60_000, negativeTtlMs: 5_000 });
    await resolve(small, "a", loader({ id: "key_a", version: 1 }));
    await resolve(small, "b", loader({ id: "key_b", version: 1 }));
    small.invalidate("key_a");
    const load = loader(null);
    expect(await resolve(small, "b", load)).toStrictEqual({ id: "key_b", version: 1 });
    small.invalidate("key_b");
    expect(await resolve(small, "b", loader({ id: "key_b", version: 2 }))).toStrictEqual({
      id: "key_b",
      version: 2,
    });
  });

  it("forgets records and unknown digests on clear()", async () => {
    await resolve(cache, "d1", loader({ id: "key_a", version: 1 }));
    await resolve(cache, "unknown", loader(null));
    cache.clear();
    expect(cache.size).toBe(0);
    const load = loader(null);
    await resolve(cache, "d1", load);
    await resolve(cache, "unknown", load);
    expect(load).toHaveBeenCalledTimes(2);
  });
});
