import { startOfUtcHour } from "../lib/time.js";
import type { Repos } from "../repo/index.js";
import type { UsageCount } from "../repo/keys.js";

/**
 * Verification counts and lastUsedAt times, gathered in memory and written in one transaction at
 * most every few seconds, so a verify of a key without credits writes nothing on the request path.
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
    try {
      await this.repos.keys.recordUsage([...counts.values()], keyLastUsed);
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
