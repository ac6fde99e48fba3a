import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 60_000;
// `km_root_` + 50 base62 chars: the bootstrap key the server prints once on first start.
const ROOT_KEY_LINE = /\b(km_root_[0-9A-Za-z]{50})\b/;

/** A server child process on loopback. */
export interface RunningServer {
  name: string;
  pid: number;
  url: string;
  /** Resident set size of the process in bytes (VmRSS from /proc/<pid>/status). */
  rssBytes(): number;
  /** CPU time the process has used, all threads, user + system, in seconds (/proc/<pid>/stat). */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export interface KeyMintOptions {
  dbFile: string;
  cacheMax?: number;
  /** Capture stdout until the bootstrap root key appears (first start only). */
  readBootstrapKey?: boolean;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
}

const running = new Set<ChildProcess>();

/** Kills every child still running (used on the way out, also after an error). */
export function killAll(): void {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The environment a child gets: the parent's, minus every KeyMint setting (the defaults apply). */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith("KEYMINT_") || name === "LOG_LEVEL" || name === "PORT" || name === "HOST") continue;
    if (name === "NODE_OPTIONS") continue;
    env[name] = value;
  }
  return env;
}

let built = false;

/** `npm start`'s first half, once per run: compiles src/ into dist/ (npm run build). */
function buildOnce(): void {
  if (built) return;
  const result = spawnSync("npm", ["run", "--silent", "build"], { cwd: REPO_ROOT, stdio: "inherit" });
  if (result.status !== 0) throw new Error(`npm run build failed (${result.status ?? result.signal})`);
  built = true;
}

/**
 * Starts KeyMint as `npm start` does (build, then `node dist/index.js`, run here without npm so that
 * the pid is the server's own), on loopback, LOG_LEVEL at its default, stdout to /dev/null: the log
 * lines are written, as in production, and cost the server what they cost.
 */
export async function startKeyMint(
  options: KeyMintOptions,
): Promise<{ server: RunningServer; rootKey?: string }> {
  const port = await freePort();
  const env = baseEnv();
  env.PORT = String(port);
  env.HOST = HOST;
  env.KEYMINT_DB = options.dbFile;
  if (options.cacheMax !== undefined) env.KEYMINT_CACHE_MAX = String(options.cacheMax);
  const stdout = options.readBootstrapKey ? "pipe" : openSync("/dev/null", "w");
  buildOnce();
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), "dist/index.js"], {
    cwd: REPO_ROOT,
    env,
    stdio: ["ignore", stdout, "pipe"],
  });
  const server = track("keymint", child, `http://${HOST}:${port}`);
  let rootKey: string | undefined;
  if (options.readBootstrapKey) rootKey = await bootstrapKeyFrom(child);
  await waitUntilReady(server.url, child);
  return { server, rootKey };
}

/** The bare Hono route the subject is compared with (bench/baseline-server.ts). */
export function startBaseline(responseBody: string, nodeFlags: string[] = []): Promise<RunningServer> {
  return startScript("baseline", "bench/baseline-server.ts", { BASELINE_RESPONSE: responseBody }, nodeFlags);
}

/** A TypeScript server under bench/ (answering GET /healthz), on a free loopback port. */
export async function startScript(
  name: string,
  script: string,
  extraEnv: Record<string, string>,
  nodeFlags: string[] = [],
): Promise<RunningServer> {
  const port = await freePort();
  const env = { ...baseEnv(), ...extraEnv, PORT: String(port), HOST };
  const child = spawn(process.execPath, [...nodeFlags, "--import", "tsx", script], {
    cwd: REPO_ROOT,
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const server = track(name, child, `http://${HOST}:${port}`);
  await waitUntilReady(server.url, child);
  return server;
}

function track(name: string, child: ChildProcess, url: string): RunningServer {
  running.add(child);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("exit", (code, signal) => {
    running.delete(child);
    if (code !== 0 && code !== null && signal === null) {
      process.stderr.write(`${name} exited with ${code}:\n${stderr}\n`);
    }
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name} did not start`);
  return {
    name,
    pid,
    url,
    rssBytes: () => rssOf(pid),
    cpuSeconds: () => cpuSecondsOf(pid),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function bootstrapKeyFrom(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error("no bootstrap root key on stdout")), START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = ROOT_KEY_LINE.exec(seen);
      if (match?.[1]) {
        clearTimeout(timer);
        // Keep draining, so a full pipe never blocks the server.
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        resolve(match[1]);
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", () => reject(new Error("server exited before printing the bootstrap root key")));
  });
}

async function waitUntilReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server at ${url} exited during start-up`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`server at ${url} not ready after ${START_TIMEOUT_MS} ms`);
}

export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return match?.[1] ? Number(match[1]) * 1024 : Number.NaN;
}

// /proc/<pid>/stat counts in clock ticks; Linux reports them at 100 per second (USER_HZ).
const TICKS_PER_SECOND = 100;

export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces), from field 3 on: utime is 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}
