import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { USAGE_ROWS_PER_WRITE, UsageBuffer } from "../../src/verify/usage-buffer.js";
import { createTestApp, ManualClock, type TestApp } from "../helpers.js";
import { keyWith } from "../support/verify.js";

const HOUR = 3_600_000;
const T = Date.parse("2026-11-27T04:00:00.000Z");

describe("UsageBuffer", () => {
  let t: TestApp;
  let buffer: UsageBuffer;
  let clock: ManualClock;
  let keyId: string;
  beforeEach(async () => {
    clock = new ManualClock(T);
    t = await createTestApp({ clock });
    buffer = new UsageBuffer(t.deps.repos, clock);
    keyId = (await keyWith(t)).id;
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  function usageRows() {
    return t.db.$client
      .prepare("SELECT hour, code, count FROM key_usage WHERE key_id = ? ORDER BY hour, code")
      .all(keyId);
  }

  function lastUsedAt() {
    return (
      t.db.$client.prepare("SELECT last_used_at AS at FROM keys WHERE id = ?").get(keyId) as { at: number }
    ).at;
  }

  it("adds up counts per key, UTC hour and code, and writes them in one call", async () => {
    const recordUsage = vi.spyOn(t.deps.repos.keys, "recordUsage");
    buffer.recordVerification(keyId, "VALID", T + 10, true);
    buffer.recordVerification(keyId, "VALID", T + HOUR - 1, true);
    buffer.recordVerification(keyId, "REVOKED", T + 20, false);
    buffer.recordVerification(keyId, "VALID", T + HOUR, true);
    expect(buffer.pending).toBe(4);
    await buffer.flush();
    expect(recordUsage).toHaveBeenCalledTimes(1);
    expect(buffer.pending).toBe(0);
    expect(usageRows()).toStrictEqual([
      { hour: T, code: "REVOKED", count: 1 },
      { hour: T, code: "VALID", count: 2 },
      { hour: T + HOUR, code: "VALID", count: 1 },
    ]);
  });

  it("adds to the stored counts on later flushes", async () => {
    buffer.recordVerification(keyId, "VALID", T, true);
    await buffer.flush();
    buffer.recordVerification(keyId, "VALID", T + 5, true);
    await buffer.flush();
    expect(usageRows()).toStrictEqual([{ hour: T, code: "VALID", count: 2 }]);
  });

  it("sets lastUsedAt from valid calls only, never moving it back", async () => {
    buffer.recordVerification(keyId, "DISABLED", T + 50, false);
    await buffer.flush();
    expect(lastUsedAt()).toBeNull();
    buffer.recordVerification(keyId, "VALID", T + 100, true);
    buffer.recordVerification(keyId, "USAGE_EXCEEDED", T + 200, false);
    await buffer.flush();
    expect(lastUsedAt()).toBe(T + 100);
    buffer.recordVerification(keyId, "VALID", T + 10, true);
    await buffer.flush();
    expect(lastUsedAt()).toBe(T + 100);
  });

  it("does not touch the database when nothing is buffered", async () => {
    const recordUsage = vi.spyOn(t.deps.repos.keys, "recordUsage");
    await buffer.flush();
    expect(recordUsage).not.toHaveBeenCalled();
  });

  it("drops the counts of a key deleted before the flush", async () => {
    buffer.recordVerification(keyId, "VALID", T, true);
    await t.call("DELETE", `/v1/keys/${keyId}`);
    await buffer.flush();
    expect(usageRows()).toStrictEqual([]);
  });

  it("never writes one batch twice when flushes overlap", async () => {
    const recordUsage = vi.spyOn(t.deps.repos.keys, "recordUsage");
    buffer.recordVerification(keyId, "VALID", T, true);
    await Promise.all([buffer.flush(), buffer.flush(), buffer.flush()]);
    expect(recordUsage).toHaveBeenCalledTimes(1);
    expect(usageRows()).toStrictEqual([{ hour: T, code: "VALID", count: 1 }]);
  });

  it("keeps a batch whose write failed and writes it with the next flush", async () => {
    vi.spyOn(t.deps.repos.keys, "recordUsage").mockRejectedValueOnce(
      new Error("SQLITE_BUSY: database is locked"),
    );
    buffer.recordVerification(keyId, "VALID", T, true);
    await expect(buffer.flush()).rejects.toThrow("SQLITE_BUSY");
    buffer.recordVerification(keyId, "VALID", T + 1, true);
    await buffer.flush();
    expect(usageRows()).toStrictEqual([{ hour: T, code: "VALID", count: 2 }]);
    expect(lastUsedAt()).toBe(T + 1);
  });

  it("keeps the counts of keys verified in turn apart, and a failed write loses none of them", async () => {
    const others = [(await keyWith(t)).id, (await keyWith(t)).id];
    const ids = [keyId, ...others];
    for (let round = 0; round < 5; round++) {
      for (const id of ids)
        buffer.recordVerification(id, round % 2 === 0 ? "VALID" : "DISABLED", T + round, true);
    }
    buffer.recordVerification(others[0] as string, "VALID", T + HOUR, true);
    vi.spyOn(t.deps.repos.keys, "recordUsage").mockRejectedValueOnce(
      new Error("SQLITE_BUSY: database is locked"),
    );
    await expect(buffer.flush()).rejects.toThrow("SQLITE_BUSY");
    expect(buffer.pending).toBe(3 * 2 + 1 + 3);
    await buffer.flush();
    const rows = t.db.$client
      .prepare("SELECT key_id AS id, hour, code, count FROM key_usage ORDER BY key_id, hour, code")
      .all();
    const expected = ids.flatMap((id) => [
      { id, hour: T, code: "DISABLED", count: 2 },
      { id, hour: T, code: "VALID", count: 3 },
      ...(id === others[0] ? [{ id, hour: T + HOUR, code: "VALID", count: 1 }] : []),
    ]);
    expect(rows).toStrictEqual(expected.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  });

  it("writes a large batch in several transactions and, when one fails, keeps only the rows not yet written", async () => {
    const rows = USAGE_ROWS_PER_WRITE * 2 + 200;
    for (let i = 0; i < rows; i++) buffer.recordVerification(keyId, "VALID", T + i * HOUR, true);
    const original = t.deps.repos.keys.recordUsage.bind(t.deps.repos.keys);
    const recordUsage = vi.spyOn(t.deps.repos.keys, "recordUsage");
    recordUsage.mockImplementationOnce(original);
    recordUsage.mockRejectedValueOnce(new Error("SQLITE_BUSY: database is locked"));
    await expect(buffer.flush()).rejects.toThrow("SQLITE_BUSY");
    // The first write is the largest allowed; the failed second one is kept whole.
    expect(recordUsage.mock.calls[0]?.[0]).toHaveLength(USAGE_ROWS_PER_WRITE);
    expect(buffer.pending).toBe(rows - USAGE_ROWS_PER_WRITE);
    await buffer.flush();
    expect(buffer.pending).toBe(0);
    const sizes = recordUsage.mock.calls.map(([counts]) => counts.length);
    expect(sizes.length).toBeGreaterThanOrEqual(4);
    expect(sizes.every((size) => size <= USAGE_ROWS_PER_WRITE)).toBe(true);
    // Every row once, the failed write's rows included (its call is the second).
    expect(sizes.reduce((sum, size) => sum + size, 0) - (sizes[1] ?? 0)).toBe(rows);
    const written = usageRows() as { count: number }[];
    expect(written).toHaveLength(rows);
    expect(written.every((row) => row.count === 1)).toBe(true);
  });

  it("shrinks its writes when they take long, and grows them again when they are quick", async () => {
    const rows = 3 * USAGE_ROWS_PER_WRITE;
    for (let i = 0; i < rows; i++) buffer.recordVerification(keyId, "VALID", T + i * HOUR, true);
    const original = t.deps.repos.keys.recordUsage.bind(t.deps.repos.keys);
    const clock = vi.spyOn(performance, "now");
    let now = 0;
    clock.mockImplementation(() => now);
    const recordUsage = vi
      .spyOn(t.deps.repos.keys, "recordUsage")
      .mockImplementation(async (counts, lastUsed) => {
        // A slow database: 0.1 ms a row, so 20 rows fit the 2 ms budget.
        now += counts.length * 0.1;
        return original(counts, lastUsed);
      });
    await buffer.flush();
    const sizes = recordUsage.mock.calls.map(([counts]) => counts.length);
    expect(sizes[0]).toBe(USAGE_ROWS_PER_WRITE);
    expect(sizes.slice(1, -1).every((size) => size === 20)).toBe(true);

    recordUsage.mockClear();
    recordUsage.mockImplementation(async (counts, lastUsed) => {
      now += 0.001; // a fast one: each write may double the next
      return original(counts, lastUsed);
    });
    for (let i = 0; i < rows; i++) buffer.recordVerification(keyId, "DISABLED", T + i * HOUR, false);
    await buffer.flush();
    expect(recordUsage.mock.calls.map(([counts]) => counts.length).slice(0, 6)).toStrictEqual([
      20, 40, 80, 160, 320, 500,
    ]);
    expect(usageRows()).toHaveLength(2 * rows);
  });

  it("keeps flushing after a failed write instead of failing every later flush", async () => {
    vi.spyOn(t.deps.repos.keys, "recordUsage").mockRejectedValueOnce(
      new Error("SQLITE_BUSY: database is locked"),
    );
    buffer.recordVerification(keyId, "VALID", T, true);
    await expect(buffer.flush()).rejects.toThrow("SQLITE_BUSY");
    await expect(buffer.flush()).resolves.toBeUndefined();
    await expect(buffer.flush()).resolves.toBeUndefined();
  });

  it("records a root key's last use and writes it with the flush", async () => {
    buffer.recordRootKeyUse(t.rootKeyId, T + 7);
    await buffer.flush();
    const row = t.db.$client
      .prepare("SELECT last_used_at AS at FROM root_keys WHERE id = ?")
      .get(t.rootKeyId);
    expect(row).toStrictEqual({ at: T + 7 });
  });

  it("writes only the counts when asked for the counts", async () => {
    const recordLastUsed = vi.spyOn(t.deps.repos.rootKeys, "recordLastUsed");
    buffer.recordVerification(keyId, "VALID", T + 1, true);
    buffer.recordRootKeyUse(t.rootKeyId, T + 2);
    await buffer.flushCounts();
    expect(usageRows()).toStrictEqual([{ hour: T, code: "VALID", count: 1 }]);
    expect(lastUsedAt()).toBeNull();
    expect(recordLastUsed).not.toHaveBeenCalled();
    expect(buffer.pending).toBe(2);
    await buffer.flush();
    expect(lastUsedAt()).toBe(T + 1);
    expect(recordLastUsed).toHaveBeenCalledTimes(1);
    expect(buffer.pending).toBe(0);
  });

  it("answers a row with its latest use: buffered, being written, or stored, whichever is newest", async () => {
    const row = { id: keyId, lastUsedAt: T + 5 };
    expect(buffer.withKeyLastUse(row)).toBe(row);
    buffer.recordVerification(keyId, "VALID", T + 9, true);
    expect(buffer.withKeyLastUse(row)).toStrictEqual({ id: keyId, lastUsedAt: T + 9 });
    expect(buffer.withKeyLastUse({ id: keyId, lastUsedAt: T + 20 }).lastUsedAt).toBe(T + 20);
    expect(buffer.withKeyLastUse({ id: keyId, lastUsedAt: null }).lastUsedAt).toBe(T + 9);
    expect(buffer.withKeyLastUse({ id: "key_other", lastUsedAt: null }).lastUsedAt).toBeNull();

    // While a flush has taken the time and not committed it, it is still answered.
    let commit = () => {};
    const recordUsage = t.deps.repos.keys.recordUsage.bind(t.deps.repos.keys);
    vi.spyOn(t.deps.repos.keys, "recordUsage").mockImplementationOnce(async (counts, lastUsed) => {
      await new Promise<void>((resolve) => {
        commit = resolve;
      });
      return recordUsage(counts, lastUsed);
    });
    const flushed = buffer.flush();
    await vi.waitFor(() => expect(buffer.pending).toBe(0));
    expect(buffer.withKeyLastUse(row).lastUsedAt).toBe(T + 9);
    commit();
    await flushed;
    expect(lastUsedAt()).toBe(T + 9);
    expect(buffer.withKeyLastUse(row)).toBe(row);
  });

  it("still answers a use whose write failed, until a later flush writes it", async () => {
    buffer.recordVerification(keyId, "VALID", T + 9, true);
    buffer.recordRootKeyUse(t.rootKeyId, T + 3);
    vi.spyOn(t.deps.repos.keys, "recordUsage").mockRejectedValueOnce(new Error("SQLITE_BUSY"));
    await expect(buffer.flush()).rejects.toThrow("SQLITE_BUSY");
    expect(buffer.withKeyLastUse({ id: keyId, lastUsedAt: null }).lastUsedAt).toBe(T + 9);
    expect(buffer.withRootKeyLastUse({ id: t.rootKeyId, lastUsedAt: null }).lastUsedAt).toBe(T + 3);
    await buffer.flush();
    expect(lastUsedAt()).toBe(T + 9);
  });

  it("keeps a VALID call it was not asked to write for answers, and writes it once the key goes a whole minute unused", async () => {
    buffer.recordVerification(keyId, "VALID", T, true);
    await buffer.flush();
    buffer.recordVerification(keyId, "VALID", T + 5_000, false);
    buffer.recordVerification(keyId, "REVOKED", T + 6_000, false);
    expect(buffer.withKeyLastUse({ id: keyId, lastUsedAt: T }).lastUsedAt).toBe(T + 5_000);
    expect(buffer.withKeyLastWrite({ id: keyId, lastUsedAt: T }).lastUsedAt).toBe(T);
    // Windows of a minute from the buffer's start: the call falls in the first…
    clock.set(new Date(T + 60_000).toISOString());
    await buffer.flush();
    expect(lastUsedAt()).toBe(T);
    expect(buffer.withKeyLastUse({ id: keyId, lastUsedAt: T }).lastUsedAt).toBe(T + 5_000);
    clock.set(new Date(T + 119_999).toISOString());
    await buffer.flush();
    expect(lastUsedAt()).toBe(T);
    // …and the key went unused for all of the second.
    clock.set(new Date(T + 120_000).toISOString());
    await buffer.flush();
    expect(lastUsedAt()).toBe(T + 5_000);
    expect(buffer.pending).toBe(0);
  });

  it("keeps the latest call of a key still in use for answers, without writing it", async () => {
    buffer.recordVerification(keyId, "VALID", T + 1_000, false);
    for (const minute of [1, 2, 3]) {
      clock.set(new Date(T + minute * 60_000).toISOString());
      buffer.recordVerification(keyId, "VALID", clock.now() - 1, false);
      await buffer.flush();
      expect(lastUsedAt()).toBeNull();
      expect(buffer.withKeyLastUse({ id: keyId, lastUsedAt: null }).lastUsedAt).toBe(clock.now() - 1);
    }
  });

  it("writes every key's latest call on stop, never moving lastUsedAt back", async () => {
    const other = (await keyWith(t)).id;
    buffer.recordVerification(keyId, "VALID", T + 1_000, false);
    buffer.recordVerification(keyId, "VALID", T + 2_000, true);
    buffer.recordVerification(other, "VALID", T + 3_000, false);
    await buffer.stop();
    expect(lastUsedAt()).toBe(T + 2_000);
    const stored = t.db.$client.prepare("SELECT last_used_at AS at FROM keys WHERE id = ?").get(other) as {
      at: number;
    };
    expect(stored.at).toBe(T + 3_000);
    expect(buffer.pending).toBe(0);
  });

  it("flushes what is left on stop", async () => {
    buffer.start(60_000, () => {});
    buffer.recordVerification(keyId, "VALID", T, true);
    await buffer.stop();
    expect(usageRows()).toStrictEqual([{ hour: T, code: "VALID", count: 1 }]);
  });

  it("flushes on its interval", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    try {
      const onError = vi.fn();
      buffer.start(2_000, onError);
      buffer.recordVerification(keyId, "VALID", T, true);
      await vi.advanceTimersByTimeAsync(1_999);
      expect(usageRows()).toStrictEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(usageRows()).toStrictEqual([{ hour: T, code: "VALID", count: 1 }]);
      await buffer.stop();
      expect(onError).not.toHaveBeenCalled();
    } finally {
      vi.useRealTimers();
    }
  });

  it("keeps a root key's last use whose write failed and writes it with the next flush", async () => {
    const rootKeyLastUsedAt = () =>
      t.db.$client.prepare("SELECT last_used_at AS at FROM root_keys WHERE id = ?").get(t.rootKeyId);
    vi.spyOn(t.deps.repos.rootKeys, "recordLastUsed").mockRejectedValueOnce(new Error("SQLITE_BUSY"));
    buffer.recordRootKeyUse(t.rootKeyId, T + 7);
    await expect(buffer.flush()).rejects.toThrow("SQLITE_BUSY");
    expect(buffer.withRootKeyLastUse({ id: t.rootKeyId, lastUsedAt: null }).lastUsedAt).toBe(T + 7);
    await buffer.flush();
    expect(rootKeyLastUsedAt()).toStrictEqual({ at: T + 7 });
  });

  it("answers a root key's last use while a flush has taken it and not yet committed it", async () => {
    buffer.recordRootKeyUse(t.rootKeyId, T + 7);
    let commit = () => {};
    const recordLastUsed = t.deps.repos.rootKeys.recordLastUsed.bind(t.deps.repos.rootKeys);
    vi.spyOn(t.deps.repos.rootKeys, "recordLastUsed").mockImplementationOnce(async (lastUsed) => {
      await new Promise<void>((resolve) => {
        commit = resolve;
      });
      return recordLastUsed(lastUsed);
    });
    const flushed = buffer.flush();
    await vi.waitFor(() => expect(buffer.pending).toBe(0));
    expect(buffer.withRootKeyLastUse({ id: t.rootKeyId, lastUsedAt: T }).lastUsedAt).toBe(T + 7);
    commit();
    await flushed;
    const row = t.db.$client
      .prepare("SELECT last_used_at AS at FROM root_keys WHERE id = ?")
      .get(t.rootKeyId);
    expect(row).toStrictEqual({ at: T + 7 });
  });
});
