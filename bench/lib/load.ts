import { execFileSync, spawn, spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";

export type Loader = "wrk" | "autocannon";

export interface LoadSpec {
  url: string;
  method: "GET" | "POST";
  path: string;
  headers: Record<string, string>;
  /** Request bodies, sent in turn across all connections (one global cursor, so no two connections move in step). */
  bodies?: string[];
  connections: number;
  durationS: number;
}

export interface LoadResult {
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses other than 2xx plus connection errors and timeouts. */
  failures: number;
}

export function wrkAvailable(): boolean {
  return spawnSync("wrk", ["--version"], { stdio: "ignore" }).error === undefined;
}

export function loaderVersion(loader: Loader): string {
  if (loader === "wrk") {
    const result = spawnSync("wrk", ["--version"], { encoding: "utf8" });
    return (result.stdout || result.stderr).split("\n")[0]?.trim() ?? "wrk";
  }
  const pkg = execFileSync(process.execPath, ["-p", "require('autocannon/package.json').version"], {
    encoding: "utf8",
  });
  return `autocannon ${pkg.trim()}`;
}

export function runLoad(loader: Loader, spec: LoadSpec): Promise<LoadResult> {
  return loader === "wrk" ? runWrk(spec) : runAutocannon(spec);
}

async function runAutocannon(spec: LoadSpec): Promise<LoadResult> {
  const bodies = spec.bodies ?? [];
  let cursor = 0;
  const request =
    bodies.length > 1
      ? {
          setupRequest: (req: { body?: string }) => {
            req.body = bodies[cursor++ % bodies.length];
            return req;
          },
        }
      : { body: bodies[0] };
  const latencies: number[] = [];
  const instance = autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.durationS,
    method: spec.method,
    headers: spec.headers,
    requests: [{ method: spec.method, path: spec.path, headers: spec.headers, ...request }],
  });
  // autocannon's own histogram keeps whole milliseconds; sub-millisecond latencies need their own record.
  instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const result = await instance;
  const requests = result.requests.total;
  return {
    requests,
    durationS: result.duration,
    rps: requests / result.duration,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    failures: result.non2xx + result.errors + result.timeouts,
  };
}

function luaString(value: string): string {
  return JSON.stringify(value); // JSON string escapes are valid Lua string escapes for ASCII
}

async function runWrk(spec: LoadSpec): Promise<LoadResult> {
  const bodies = spec.bodies ?? [];
  const script = join(tmpdir(), `keymint-bench-${process.pid}-${Date.now()}.lua`);
  const lines = [`wrk.method = ${luaString(spec.method)}`];
  for (const [name, value] of Object.entries(spec.headers)) {
    lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`);
  }
  if (bodies.length === 1) lines.push(`wrk.body = ${luaString(bodies[0] ?? "")}`);
  if (bodies.length > 1) {
    lines.push("local bodies = {");
    for (const body of bodies) lines.push(`${luaString(body)},`);
    lines.push("}", "local n = #bodies", "local i = 0");
    lines.push(
      "request = function()",
      "  i = i + 1",
      "  return wrk.format(nil, nil, nil, bodies[(i % n) + 1])",
      "end",
    );
  }
  lines.push(
    "done = function(summary, latency, requests)",
    "  local e = summary.errors",
    '  io.write(string.format(\'\\nRESULT {"requests":%d,"durationUs":%d,"p50":%d,"p99":%d,"failures":%d}\\n\',',
    "    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),",
    "    e.connect + e.read + e.write + e.timeout + e.status))",
    "end",
  );
  writeFileSync(script, lines.join("\n"));
  try {
    // One thread: the machine has two cores, one for the server and one for the load.
    const args = [
      "-t1",
      `-c${spec.connections}`,
      `-d${Math.max(1, Math.round(spec.durationS))}s`,
      "-s",
      script,
    ];
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn("wrk", [...args, spec.url + spec.path], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.once("error", reject);
      child.once("exit", () => resolve(out));
    });
    const match = /RESULT (\{.*\})/.exec(output);
    if (!match?.[1]) throw new Error(`wrk gave no result:\n${output}`);
    const parsed = JSON.parse(match[1]) as {
      requests: number;
      durationUs: number;
      p50: number;
      p99: number;
      failures: number;
    };
    const durationS = parsed.durationUs / 1e6;
    return {
      requests: parsed.requests,
      durationS,
      rps: parsed.requests / durationS,
      p50Ms: parsed.p50 / 1000,
      p99Ms: parsed.p99 / 1000,
      failures: parsed.failures,
    };
  } finally {
    rmSync(script, { force: true });
  }
}

/** Sends each body once, `concurrency` at a time (cache fills and set-up, not measurement). */
export async function sendAll(
  url: string,
  path: string,
  headers: Record<string, string>,
  bodies: string[],
  connections: number,
): Promise<{ failures: number }> {
  let cursor = 0;
  const instance = autocannon({
    url,
    connections,
    amount: bodies.length,
    requests: [
      {
        method: "POST",
        path,
        headers,
        setupRequest: (req: { body?: string }) => {
          req.body = bodies[cursor++ % bodies.length];
          return req;
        },
      },
    ],
  });
  const result = await instance;
  return { failures: result.non2xx + result.errors + result.timeouts };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}
