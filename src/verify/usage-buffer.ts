import { startOfUtcHour } from "../lib/time.js";
import type { Repos } from "../repo/index.js";
import type { UsageCount } from "../repo/keys.js";

/** Rows per write: a flush yields to the event loop between writes, so no request waits on a long one. */
export const USAGE_ROWS_PER_WRITE = 500;

/**
 * Verification counts and lastUsedAt times, gathered in memory and written at most every few
 * seconds, so a verify of a key without credits writes nothing on the request path. A flush writes
 * in transactions of at most USAGE_ROWS_PER_WRITE rows: after a busy interval (thousands of distinct
 * keys) one transaction would hold the event loop for tens of milliseconds.
 */
export class UsageBuffer {
  private counts = new Map<string, UsageCount>();
  private keyLastUsed = new Map<string, number>();
  private rootKeyLastUsed = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

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
    const countRows = [...counts];
    const lastUsedRows = [...keyLastUsed];
    let written = 0;
    try {
      while (written < countRows.length || written < lastUsedRows.length) {
        if (written > 0) await new Promise((resolve) => setImmediate(resolve));
        const end = written + USAGE_ROWS_PER_WRITE;
        await this.repos.keys.recordUsage(
          countRows.slice(written, end).map(([, entry]) => entry),
          new Map(lastUsedRows.slice(written, end)),
        );
        written = end;
      }
    } catch (error) {
      this.putBack(new Map(countRows.slice(written)), new Map(lastUsedRows.slice(written)), rootKeyLastUsed);
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
