import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { USAGE_ROWS_PER_WRITE, UsageBuffer } from "../../src/verify/usage-buffer.js";
import { createTestApp, type TestApp } from "../helpers.js";
import { keyWith } from "../support/verify.js";

const HOUR = 3_600_000;
const T = Date.parse("2026-11-27T04:00:00.000Z");

describe("UsageBuffer", () => {
  let t: TestApp;
  let buffer: UsageBuffer;
  let keyId: string;
  beforeEach(async () => {
    t = await createTestApp();
    buffer = new UsageBuffer(t.deps.repos);
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

  it("writes a large batch in several transactions and, when one fails, keeps only the rows not yet written", async () => {
    const rows = USAGE_ROWS_PER_WRITE * 2 + 200;
    for (let i = 0; i < rows; i++) buffer.recordVerification(keyId, "VALID", T + i * HOUR, true);
    const original = t.deps.repos.keys.recordUsage.bind(t.deps.repos.keys);
    const recordUsage = vi.spyOn(t.deps.repos.keys, "recordUsage");
    recordUsage.mockImplementationOnce(original);
    recordUsage.mockRejectedValueOnce(new Error("SQLITE_BUSY: database is locked"));
    await expect(buffer.flush()).rejects.toThrow("SQLITE_BUSY");
    expect(buffer.pending).toBe(rows - USAGE_ROWS_PER_WRITE);
    await buffer.flush();
    expect(buffer.pending).toBe(0);
    expect(recordUsage.mock.calls.map(([counts]) => counts.length)).toStrictEqual([
      USAGE_ROWS_PER_WRITE,
      USAGE_ROWS_PER_WRITE,
      USAGE_ROWS_PER_WRITE,
      200,
    ]);
    const written = usageRows() as { count: number }[];
    expect(written).toHaveLength(rows);
    expect(written.every((row) => row.count === 1)).toBe(true);
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
});
