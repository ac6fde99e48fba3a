import { startOfUtcHour } from "../lib/time.js";
import type { Repos } from "../repo/index.js";
import type { UsageCount } from "../repo/keys.js";

/** Most rows one write may hold, and the fewest it shrinks to. */
export const USAGE_ROWS_PER_WRITE = 500;
const MIN_ROWS_PER_WRITE = 20;
/** How long one write may hold the event loop. */
const WRITE_BUDGET_MS = 2;

/**
 * Verification counts and lastUsedAt times, gathered in memory and written at most every few
 * seconds, so a verify of a key without credits writes nothing on the request path.
 *
 * A flush writes in several transactions and lets the event loop run between them, so requests never
 * wait long on it. Their size follows how long the last one took, aiming at WRITE_BUDGET_MS: a
 * transaction of 500 rows takes about 1 ms on a small database but 18 ms at a million keys (random
 * pages), where it settles near a hundred rows.
 */
export class UsageBuffer {
  private counts = new Map<string, UsageCount>();
  private keyLastUsed = new Map<string, number>();
  private rootKeyLastUsed = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private rowsPerWrite = USAGE_ROWS_PER_WRITE;

  constructor(private readonly repos: Repos) {}

  recordVerification(keyId: string, code: string, now: number, valid: boolean): void {
    const hour = startOfUtcHour(now);
    const slot = `${keyId} ${hour} ${code}`;
    const entry = this.counts.get(slot);
    if (entry) entry.count++;
    else this.counts.set(slot, { keyId, hour, code, count: 1 });
    if (valid) this.keyLastUsed.set(keyId, now);
  }

  recordRootKeyUse(rootKeyId: string, now: number): void {
    this.rootKeyLastUsed.set(rootKeyId, now);
  }

  get pending(): number {
    return this.counts.size + this.keyLastUsed.size + this.rootKeyLastUsed.size;
  }

  /**
   * Writes what is buffered. Flushes run one after another, never twice at once. A failed write
   * rejects this flush only: its batch is kept and written by the next one.
   */
  flush(): Promise<void> {
    const written = this.flushing.then(() => this.write());
    this.flushing = written.catch(() => undefined);
    return written;
  }

  private async write(): Promise<void> {
    if (this.pending === 0) return;
    const { counts, keyLastUsed, rootKeyLastUsed } = this;
    this.counts = new Map();
    this.keyLastUsed = new Map();
    this.rootKeyLastUsed = new Map();
    // Rows leave the snapshots as they are written (no copies: after a busy interval a batch holds
    // hundreds of thousands), so after a failure the snapshots are exactly what is left to write.
    try {
      let first = true;
      while (counts.size > 0 || keyLastUsed.size > 0) {
        if (!first) await new Promise((resolve) => setImmediate(resolve));
        first = false;
        const countRows = firstEntries(counts, this.rowsPerWrite);
        const lastUsedRows = firstEntries(keyLastUsed, this.rowsPerWrite);
        const started = performance.now();
        await this.repos.keys.recordUsage(
          countRows.map(([, entry]) => entry),
          new Map(lastUsedRows),
        );
        for (const [slot] of countRows) counts.delete(slot);
        for (const [id] of lastUsedRows) keyLastUsed.delete(id);
        this.adjustRowsPerWrite(performance.now() - started);
      }
    } catch (error) {
      this.putBack(counts, keyLastUsed, rootKeyLastUsed);
      throw error;
    }
    if (rootKeyLastUsed.size === 0) return;
    try {
      await this.repos.rootKeys.recordLastUsed(rootKeyLastUsed);
    } catch (error) {
      this.putBack(new Map(), new Map(), rootKeyLastUsed);
      throw error;
    }
  }

  /** Sizes the next write after the last one: at most double, toward WRITE_BUDGET_MS. */
  private adjustRowsPerWrite(tookMs: number): void {
    const fitting = Math.floor((this.rowsPerWrite * WRITE_BUDGET_MS) / Math.max(tookMs, 0.01));
    this.rowsPerWrite = Math.max(
      MIN_ROWS_PER_WRITE,
      Math.min(USAGE_ROWS_PER_WRITE, 2 * this.rowsPerWrite, fitting),
    );
  }

  /** Returns an unwritten batch to the buffer: counts add up, the latest use wins. */
  private putBack(
    counts: Map<string, UsageCount>,
    keyLastUsed: Map<string, number>,
    rootKeyLastUsed: Map<string, number>,
  ): void {
    for (const [slot, entry] of counts) {
      const current = this.counts.get(slot);
      if (current) current.count += entry.count;
      else this.counts.set(slot, entry);
    }
    for (const [id, at] of keyLastUsed) {
      this.keyLastUsed.set(id, Math.max(at, this.keyLastUsed.get(id) ?? at));
    }
    for (const [id, at] of rootKeyLastUsed) {
      this.rootKeyLastUsed.set(id, Math.max(at, this.rootKeyLastUsed.get(id) ?? at));
    }
  }

  start(intervalMs: number, onError: (error: unknown) => void): void {
    this.timer = setInterval(() => {
      this.flush().catch(onError);
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

function firstEntries<K, V>(map: Map<K, V>, count: number): [K, V][] {
  const entries: [K, V][] = [];
  for (const entry of map) {
    if (entries.length === count) break;
    entries.push(entry);
  }
  return entries;
}
