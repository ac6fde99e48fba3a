import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { RequestLog } from "../../src/observability/request-log.js";
import { logSink } from "../support/log-sink.js";
import { sample } from "../support/ops.js";

function capturedRequestLog(level = "info") {
  const { stream, writes, lines } = logSink();
  const metrics = createMetrics(
    () => ({ hits: 0, misses: 0, loads: 0, size: 0 }),
    () => ({ begun: 0, waiting: 0 }),
  );
  const log = new RequestLog(createLogger({ level, destination: stream }), metrics);
  return { log, writes, lines, metrics };
}

const request = (requestId: string) => ({
  requestId,
  method: "POST",
  route: "/v1/keys/verify",
  status: 200,
  durationMs: 0.1234567,
});

describe("RequestLog", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("writes pino's line format, all of a batch in one write, 10 ms after its first line", () => {
    const { log, writes, lines } = capturedRequestLog();
    vi.setSystemTime(Date.parse("2026-11-27T10:00:00.000Z"));
    for (const id of ["a", "b", "c"]) log.record(request(id));
    vi.advanceTimersByTime(9);
    expect(writes).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(writes).toHaveLength(1);
    expect(lines.map((line) => JSON.parse(line))).toEqual(
      ["a", "b", "c"].map((requestId) => ({
        level: 30,
        time: Date.parse("2026-11-27T10:00:00.000Z"),
        requestId,
        method: "POST",
        route: "/v1/keys/verify",
        status: 200,
        durationMs: 0.123,
      })),
    );
  });

  it("writes at once when a batch reaches 64 KiB, without waiting for the timer", () => {
    const { log, writes, lines } = capturedRequestLog();
    let count = 0;
    while (writes.length === 0) log.record(request(`id-${count++}`));
    expect(writes[0]?.length).toBeGreaterThanOrEqual(64 * 1024);
    expect(lines).toHaveLength(count);
    vi.advanceTimersByTime(10);
    expect(writes).toHaveLength(1);
  });

  it("flush() writes what waits now, and nothing when nothing waits", () => {
    const { log, writes, lines } = capturedRequestLog();
    log.flush();
    expect(writes).toEqual([]);
    log.record(request("now"));
    log.flush();
    expect(lines.map((line) => JSON.parse(line).requestId)).toEqual(["now"]);
    vi.advanceTimersByTime(10);
    expect(writes).toHaveLength(1);
  });

  it("counts the request in the metrics at every level, and writes no line below info", async () => {
    const { log, writes, metrics } = capturedRequestLog("warn");
    log.record(request("quiet"));
    log.flush();
    vi.advanceTimersByTime(10);
    expect(writes).toEqual([]);
    const labels = { method: "POST", route: "/v1/keys/verify", status: "200" };
    const text = await metrics.registry.metrics();
    expect(sample(text, "keymint_http_requests_total", labels)).toBe(1);
    expect(sample(text, "keymint_http_request_duration_seconds_count", labels)).toBe(1);
  });
});
