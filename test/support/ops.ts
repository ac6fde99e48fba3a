import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { createApp } from "../../src/app.js";
import { createLogger } from "../../src/observability/logger.js";
import { RequestLog } from "../../src/observability/request-log.js";
import type { TestApp } from "../helpers.js";
import { logSink } from "./log-sink.js";

/** The project's own tsx, run directly (npx would add a package lookup to every spawn). */
export const TSX = fileURLToPath(new URL("../../node_modules/.bin/tsx", import.meta.url));

/**
 * A second app over the same deps as `t`, logging through the production logger (redaction and all)
 * at `level` into `lines`, one parsed JSON object per line.
 */
export function appWithProductionLogger(t: TestApp, level: string) {
  const { stream, lines: raw } = logSink();
  const logger = createLogger({ level, destination: stream });
  const deps = { ...t.deps, logger, requestLog: new RequestLog(logger, t.deps.metrics) };
  return {
    app: createApp(deps),
    deps,
    /** Every line written, as text. */
    raw,
    /** Every line written, parsed. */
    lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/** One sample of the Prometheus text `text`: the value of `name` with exactly these labels, or undefined. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([label, value]) => `${label}="${value}"`)
    .sort()
    .join(",");
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const have = (match[2] ?? "")
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter(Boolean)
      .sort()
      .join(",");
    if (have === wanted) return Number(match[3]);
  }
  return undefined;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

/** Waits until `condition` holds, polling; fails with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
