import pino from "pino";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";

export interface FinishedRequest {
  requestId: string;
  method: string;
  /** The matched route template ("unmatched" when none), never the raw path: label values stay bounded. */
  route: string;
  status: number;
  durationMs: number;
}

interface Destination {
  write(chunk: string): unknown;
}

/** The longest a request line waits to be written, and the most that waits. */
const BATCH_MS = 10;
const BATCH_BYTES = 64 * 1024; // the lines are ASCII: a character is a byte

/**
 * What every answered request leaves behind: one log line (contract §8: requestId, method, route,
 * status, durationMs) and the HTTP metrics. The one place both are written, for the Hono app and for
 * the verify fast path alike (one instance per app, in its deps, so their lines share one batch).
 *
 * The line is pino's own format, `{"level":30,"time":…,"requestId":…}`, written by hand and handed to
 * the logger's destination in batches: every write is a trip through libuv's thread pool, and at one
 * per request (pino's way), or even one per turn of the event loop, those trips cost a tenth of a
 * cached verify's throughput (README, Performance). A batch is written after BATCH_MS or once it holds
 * BATCH_BYTES, and by `flush()` (the server calls it when it stops; tests call it before reading
 * lines). A crash loses at most one batch, as it loses the destination's own unwritten buffer.
 *
 * The lines skip the logger's secret scrubbing because they cannot hold a secret: the request id
 * passed requestIdPolicy (which refuses key, hash and token shapes), the method is node's parsed
 * token, the route a template of ours, and the rest are numbers.
 */
export class RequestLog {
  private readonly destination: Destination | undefined;
  private pending = "";
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    this.destination = (logger as unknown as Record<symbol, Destination>)[pino.symbols.streamSym];
  }

  record({ requestId, method, route, status, durationMs }: FinishedRequest): void {
    this.metrics.recordHttpRequest(method, route, status, durationMs / 1000);
    if (!this.logger.isLevelEnabled("info")) return;
    this.pending +=
      `{"level":${INFO},"time":${Date.now()},"requestId":${JSON.stringify(requestId)},` +
      `"method":${JSON.stringify(method)},"route":${JSON.stringify(route)},"status":${status},` +
      `"durationMs":${Math.round(durationMs * 1000) / 1000}}\n`;
    if (this.pending.length >= BATCH_BYTES) this.flush();
    // Unref'd: a batch waiting to be written never keeps a process alive by itself.
    else this.timer ??= setTimeout(() => this.flush(), BATCH_MS).unref();
  }

  /** Hands every line recorded so far to the logger's destination now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending === "") return;
    const lines = this.pending;
    this.pending = "";
    this.destination?.write(lines);
  }
}

const INFO = pino.levels.values.info;
