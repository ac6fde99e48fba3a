import type { Clock } from "../lib/clock.js";
import { startOfUtcHour } from "../lib/time.js";
import type { Repos } from "../repo/index.js";
import type { UsageCount } from "../repo/keys.js";

/** Most rows one write may hold, and the fewest it shrinks to. */
export const USAGE_ROWS_PER_WRITE = 500;
const MIN_ROWS_PER_WRITE = 20;
/** How long one write may hold the event loop. */
const WRITE_BUDGET_MS = 2;

interface Records {
  counts: boolean;
  lastUses: boolean;
}

const EVERYTHING: Records = { counts: true, lastUses: true };
const COUNTS: Records = { counts: true, lastUses: false };

/** A key or root-key row as it is answered: its lastUsedAt is the one the buffer may be ahead of. */
interface UsedRow {
  id: string;
  lastUsedAt: number | null;
}

/**
 * A key's lastUsedAt is written at most once this often while it is in use: a VALID call writes it only
 * when the last time written (or on its way) is at least this much older. Written every time, a key
 * verified all day would rewrite its row at every flush; at a million keys those scattered page writes
 * cost a sixth of miss throughput and two thirds of miss p99 (README, Performance). Answers still show
 * the latest VALID call exactly (withKeyLastUse), and a key unused for a whole window this long gets
 * it written (one to two intervals after that call).
 */
export const LAST_USED_WRITE_INTERVAL_MS = 60_000;

/**
 * Verification counts and lastUsedAt times, gathered in memory and written at most every few
 * seconds, so a verify of a key without credits writes nothing on the request path.
 *
 * A flush writes in several transactions and lets the event loop run between them, so requests never
 * wait long on it. Their size follows how long the last one took, aiming at WRITE_BUDGET_MS: 500
 * rows take about 1 ms on a small database, and at a million keys about 2 ms (8 ms when the rows are
 * new in this hour, 18 ms back when every key's lastUsedAt was rewritten too), as their pages come
 * from the OS rather than SQLite's cache.
 */
export class UsageBuffer {
  /** Counts by key id: the record's own id string, whose hash V8 keeps, so a lookup never rehashes. */
  private counts = new Map<string, UsageCount[]>();
  private keyLastUsed = new Map<string, number>();
  /**
   * Each key's latest VALID call since its last lastUsedAt write, when that write was too recent to
   * repeat: the calls of this window of LAST_USED_WRITE_INTERVAL_MS, and of the one before. A key in the
   * earlier window and not in this one has gone unused for a window, and its latest call is written.
   * Two maps instead of one kept in call order: moving a key to the end of a Map (a delete and a set)
   * at every call leaves a hole each time and makes V8 rebuild the table again and again; here a cached
   * verify pays one set of a key already there.
   */
  private keyLatestUse = new Map<string, number>();
  private keyLatestUseBefore = new Map<string, number>();
  private latestUseWindowStart: number;
  private rootKeyLastUsed = new Map<string, number>();
  /** The lastUsedAt times the flush under way has taken and not yet all committed. */
  private keyLastUsedWriting: ReadonlyMap<string, number> = new Map();
  private rootKeyLastUsedWriting: ReadonlyMap<string, number> = new Map();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private rowsPerWrite = USAGE_ROWS_PER_WRITE;

  constructor(
    private readonly repos: Repos,
    private readonly clock: Clock,
  ) {
    this.latestUseWindowStart = clock.now();
  }

  /**
   * Counts a verify of the key under its code. A VALID one is the key's latest use: with `writeLastUse`
   * (see LAST_USED_WRITE_INTERVAL_MS) it is written at the next flush, else it is kept for answers
   * until the key is idle.
   */
  recordVerification(keyId: string, code: string, now: number, writeLastUse: boolean): void {
    addCount(this.counts, keyId, startOfUtcHour(now), code, 1);
    // An older unwritten call left beside a newer write does no harm: lastUsedAt is only ever moved forward.
    if (writeLastUse) this.keyLastUsed.set(keyId, now);
    else if (code === "VALID") this.keyLatestUse.set(keyId, now);
  }

  recordRootKeyUse(rootKeyId: string, now: number): void {
    this.rootKeyLastUsed.set(rootKeyId, now);
  }

  /** Rows waiting to be written (counted row by row: for tests and diagnostics, not the flush). */
  get pending(): number {
    let countRows = 0;
    for (const rows of this.counts.values()) countRows += rows.length;
    const latestUses = this.keyLatestUse.size + this.keyLatestUseBefore.size;
    return countRows + this.keyLastUsed.size + latestUses + this.rootKeyLastUsed.size;
  }

  /**
   * Writes what is buffered: counts, lastUsedAt times due, and the latest use of every key unused for a
   * whole window of LAST_USED_WRITE_INTERVAL_MS. Flushes run one after another, never twice at once. A failed write
   * rejects this flush only: its batch is kept and written by the next one.
   */
  flush(): Promise<void> {
    return this.flushRecords(EVERYTHING);
  }

  /** As flush, and every key's latest use too: at shutdown, so that the stored lastUsedAt is exact. */
  flushAll(): Promise<void> {
    return this.flushRecords(EVERYTHING, true);
  }

  /** Writes the buffered counts only: what a key's usage series must show before it is read. */
  flushCounts(): Promise<void> {
    return this.flushRecords(COUNTS);
  }

  /**
   * The key row with its latest VALID call as lastUsedAt: stored, buffered, being written, or kept
   * unwritten (LAST_USED_WRITE_INTERVAL_MS). Key reads answer this instead of writing the buffer
   * first, which would make each of them a write transaction (an fsync on the event loop).
   */
  withKeyLastUse<T extends UsedRow>(row: T): T {
    const latest = this.keyLatestUse.get(row.id) ?? this.keyLatestUseBefore.get(row.id);
    return withLatest(this.withKeyLastWrite(row), latest);
  }

  /**
   * The key row with the lastUsedAt last written, buffered or being written, without the unwritten
   * latest use: what verify times the next write from, so that a key in use is written once an interval.
   */
  withKeyLastWrite<T extends UsedRow>(row: T): T {
    return withLatest(row, this.keyLastUsed.get(row.id) ?? this.keyLastUsedWriting.get(row.id));
  }

  /** The root-key row with its latest lastUsedAt, as withKeyLastUse. */
  withRootKeyLastUse<T extends UsedRow>(row: T): T {
    return withLatest(row, this.rootKeyLastUsed.get(row.id) ?? this.rootKeyLastUsedWriting.get(row.id));
  }

  private flushRecords(records: Records, everyLatestUse = false): Promise<void> {
    const written = this.flushing.then(() => {
      if (records.lastUses) this.takeLatestUses(everyLatestUse);
      return this.write(records);
    });
    this.flushing = written.catch(() => undefined);
    return written;
  }

  private async write(records: Records): Promise<void> {
    // Taken whole; records this flush leaves stay buffered for a later one.
    const counts = records.counts ? this.counts : new Map<string, UsageCount[]>();
    const keyLastUsed = records.lastUses ? this.keyLastUsed : new Map<string, number>();
    const rootKeyLastUsed = records.lastUses ? this.rootKeyLastUsed : new Map<string, number>();
    // A key in `counts` always has rows (emptied keys are deleted), so the sizes tell without counting rows.
    if (counts.size === 0 && keyLastUsed.size === 0 && rootKeyLastUsed.size === 0) return;
    if (records.counts) this.counts = new Map();
    if (records.lastUses) {
      this.keyLastUsed = new Map();
      this.rootKeyLastUsed = new Map();
      this.keyLastUsedWriting = keyLastUsed;
      this.rootKeyLastUsedWriting = rootKeyLastUsed;
    }
    try {
      await this.writeTaken(counts, keyLastUsed, rootKeyLastUsed);
    } finally {
      // Written, or put back into the buffer by a failed write: either way no longer only here.
      this.keyLastUsedWriting = new Map();
      this.rootKeyLastUsedWriting = new Map();
    }
  }

  private async writeTaken(
    counts: Map<string, UsageCount[]>,
    keyLastUsed: Map<string, number>,
    rootKeyLastUsed: Map<string, number>,
  ): Promise<void> {
    // Rows leave the snapshots as they are taken for a write, and a failed write puts its own back
    // (no copies: after a busy interval a batch holds hundreds of thousands), so after a failure the
    // snapshots are exactly what is left to write.
    try {
      let first = true;
      while (counts.size > 0 || keyLastUsed.size > 0) {
        if (!first) await new Promise((resolve) => setImmediate(resolve));
        first = false;
        const countRows = takeRows(counts, this.rowsPerWrite);
        const lastUsedRows = firstEntries(keyLastUsed, this.rowsPerWrite);
        const started = performance.now();
        try {
          await this.repos.keys.recordUsage(countRows, new Map(lastUsedRows));
        } catch (error) {
          for (const row of countRows) addCount(counts, row.keyId, row.hour, row.code, row.count);
          throw error;
        }
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

  /**
   * Moves to the lastUsedAt times the flush writes the latest calls of the keys unused for a whole
   * window (checked once a window), or every latest call (`all`, at shutdown).
   */
  private takeLatestUses(all: boolean): void {
    const now = this.clock.now();
    if (!all && now - this.latestUseWindowStart < LAST_USED_WRITE_INTERVAL_MS) return;
    for (const [id, at] of this.keyLatestUseBefore) {
      if (all || !this.keyLatestUse.has(id)) keepLatest(this.keyLastUsed, id, at);
    }
    if (all) for (const [id, at] of this.keyLatestUse) keepLatest(this.keyLastUsed, id, at);
    this.keyLatestUseBefore = all ? new Map() : this.keyLatestUse;
    this.keyLatestUse = new Map();
    this.latestUseWindowStart = now;
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
    counts: Map<string, UsageCount[]>,
    keyLastUsed: Map<string, number>,
    rootKeyLastUsed: Map<string, number>,
  ): void {
    for (const rows of counts.values())
      for (const row of rows) addCount(this.counts, row.keyId, row.hour, row.code, row.count);
    for (const [id, at] of keyLastUsed) keepLatest(this.keyLastUsed, id, at);
    for (const [id, at] of rootKeyLastUsed) keepLatest(this.rootKeyLastUsed, id, at);
  }

  start(intervalMs: number, onError: (error: unknown) => void): void {
    this.timer = setInterval(() => {
      this.flush().catch(onError);
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flushAll();
  }
}

function withLatest<T extends UsedRow>(row: T, buffered: number | undefined): T {
  return buffered !== undefined && (row.lastUsedAt === null || buffered > row.lastUsedAt)
    ? { ...row, lastUsedAt: buffered }
    : row;
}

/**
 * Adds `count` to the row of this key, hour and code, or starts that row. A key's rows are one per
 * code and hour since the last flush, most often one: a lookup by key id and a short scan.
 */
function addCount(
  counts: Map<string, UsageCount[]>,
  keyId: string,
  hour: number,
  code: string,
  count: number,
): void {
  const rows = counts.get(keyId);
  if (rows === undefined) {
    counts.set(keyId, [{ keyId, hour, code, count }]);
    return;
  }
  for (const row of rows) {
    if (row.hour === hour && row.code === code) {
      row.count += count;
      return;
    }
  }
  rows.push({ keyId, hour, code, count });
}

/** Takes up to `limit` rows from the front of `counts` (a key's rows in one piece where they fit). */
function takeRows(counts: Map<string, UsageCount[]>, limit: number): UsageCount[] {
  const taken: UsageCount[] = [];
  for (const [id, rows] of counts) {
    const room = limit - taken.length;
    if (room === 0) break;
    if (rows.length > room) {
      taken.push(...rows.splice(0, room));
      break;
    }
    taken.push(...rows);
    counts.delete(id);
  }
  return taken;
}

function firstEntries<K, V>(map: Map<K, V>, count: number): [K, V][] {
  const entries: [K, V][] = [];
  for (const entry of map) {
    if (entries.length === count) break;
    entries.push(entry);
  }
  return entries;
}

/** Records `at` as `id`'s last use unless a later one is already recorded. */
function keepLatest(lastUsed: Map<string, number>, id: string, at: number): void {
  lastUsed.set(id, Math.max(at, lastUsed.get(id) ?? at));
}
