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

/**
 * What every answered request leaves behind: one log line (contract §8: requestId, method, route,
 * status, durationMs) and the HTTP metrics. The one place both are written, for the Hono app and for
 * the verify fast path alike.
 *
 * The line is pino's own format, `{"level":30,"time":…,"requestId":…}`, written by hand and handed to
 * the logger's destination once per turn of the event loop rather than once per request: pino's
 * per-call work and its destination's per-write work were a fifth of a cached verify's cost. Lines
 * wait at most until the loop's next check phase; a crash loses them as it loses the destination's
 * own unwritten buffer. They skip the logger's secret scrubbing because they cannot hold a secret:
 * the request id passed requestIdPolicy (which refuses key, hash and token shapes), the method is
 * node's parsed token, the route a template of ours, and the rest are numbers.
 */
export function requestRecorder(deps: {
  logger: Logger;
  metrics: Metrics;
}): (request: FinishedRequest) => void {
  const destination = (deps.logger as unknown as Record<symbol, Destination>)[pino.symbols.streamSym];
  const info = pino.levels.values.info;
  let pending = "";
  const flush = () => {
    const lines = pending;
    pending = "";
    destination?.write(lines);
  };
  return ({ requestId, method, route, status, durationMs }) => {
    deps.metrics.recordHttpRequest(method, route, status, durationMs / 1000);
    if (!deps.logger.isLevelEnabled("info")) return;
    if (pending === "") setImmediate(flush);
    pending +=
      `{"level":${info},"time":${Date.now()},"requestId":${JSON.stringify(requestId)},` +
      `"method":${JSON.stringify(method)},"route":${JSON.stringify(route)},"status":${status},` +
      `"durationMs":${Math.round(durationMs * 1000) / 1000}}\n`;
  };
}
