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

/**
 * What every answered request leaves behind: one log line (contract §8: requestId, method, route,
 * status, durationMs) and the HTTP metrics. The one place both are written, for the Hono app and for
 * the verify fast path alike.
 */
export function requestRecorder(deps: {
  logger: Logger;
  metrics: Metrics;
}): (request: FinishedRequest) => void {
  // The line holds five fields of our own making, none of which a redact path can name, so it skips
  // the path walk (the largest part of a log call). The logger's scrubbing of every written line
  // still applies.
  const requestLog = deps.logger.child({}, { redact: [] });
  return ({ requestId, method, route, status, durationMs }) => {
    deps.metrics.recordHttpRequest(method, route, status, durationMs / 1000);
    requestLog.info({ requestId, method, route, status, durationMs: Math.round(durationMs * 1000) / 1000 });
  };
}
