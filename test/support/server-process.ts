import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The repository's root, where child processes run. */
export const REPO_ROOT = resolve(import.meta.dirname, "../..");
const ROOT_KEY_LINE = /^\s+(km_root_[0-9A-Za-z]{50})\s*$/m;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The real KeyMint running as a child process on a loopback port: its source through tsx
 * (`node --import tsx src/index.ts`), or with `npmStart` exactly as `npm start` runs it (built into dist/).
 */
export interface ServerProcess {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** The bootstrap root key, when this start created it (first start on an empty database). */
  readonly bootstrapRootKey: string | null;
  /** Everything written to stdout and stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  /** Sends a signal and waits for the exit. */
  kill(signal: NodeJS.Signals): Promise<Exit>;
  /** Stops reading the server's stdout and stderr, as a supervisor that went away would. */
  closeOutput(): void;
  /** Resident set size in KiB, from /proc/<pid>/status (Linux). */
  rssKiB(): number | null;
}

export interface StartOptions {
  /** The database file; start again on the same file to restart "the same" server. */
  dbFile: string;
  env?: Record<string, string>;
  /** How long to wait for the process to listen and answer /healthz. */
  timeoutMs?: number;
  /** Start it the documented way, `npm start`, instead of running node directly. */
  npmStart?: boolean;
  /**
   * The port to listen on (see freePort). Without it the server picks one and its port is read from
   * the "KeyMint listening" log line, which a LOG_LEVEL above info does not print.
   */
  port?: number;
  /** How much of the start and of the latest output is kept (64 KiB of each by default). */
  outputKept?: number;
}

const running = new Set<ChildProcess>();
// Servers started by `npm start`: they would outlive an npm that died without passing a signal on.
const grandchildren = new Set<number>();

// A crashed test run must never leave a server behind.
process.once("exit", () => {
  for (const child of running) killTree(child.pid, "SIGKILL");
  for (const pid of grandchildren) killTree(pid, "SIGKILL");
});

/** Starts the server on a free port and resolves once /healthz answers 200. */
export async function startServer(options: StartOptions): Promise<ServerProcess> {
  const [command, args] = options.npmStart
    ? ["npm", ["start", "--silent"]]
    : [process.execPath, ["--import", "tsx", "src/index.ts"]];
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      PORT: String(options.port ?? 0),
      HOST: "127.0.0.1",
      KEYMINT_DB: options.dbFile,
      LOG_LEVEL: "info",
      CI: "1",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  const out = new CappedText(options.outputKept);
  const err = new CappedText();
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    out.append(chunk);
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    err.append(chunk);
  });
  const exited = new Promise<Exit>((resolveExit) => {
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolveExit({ code, signal });
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error("the server process did not start");

  const timeoutMs = options.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let port: number | null = options.port ?? null;
  let exitedEarly: Exit | null = null;
  void exited.then((exit) => {
    exitedEarly = exit;
  });
  // With a port given, the wait is in the /healthz loop alone: an exit must end it there too.
  const failIfExited = () => {
    if (exitedEarly !== null) {
      throw new Error(
        `the server exited before answering (${JSON.stringify(exitedEarly)}): ${err.text()}${out.text()}`,
      );
    }
  };
  while (port === null) {
    failIfExited();
    if (Date.now() > deadline) {
      killTree(child.pid, "SIGKILL");
      throw new Error(`the server did not listen within ${timeoutMs} ms: ${err.text()}${out.text()}`);
    }
    port = listeningPort(out.text());
    if (port === null) await sleep(20);
  }
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    try {
      const response = await fetch(`${url}/healthz`);
      await response.arrayBuffer();
      if (response.status === 200) break;
    } catch {
      // Not answering yet.
    }
    failIfExited();
    if (Date.now() > deadline) {
      killTree(child.pid, "SIGKILL");
      throw new Error(
        `the server did not answer /healthz within ${timeoutMs} ms: ${err.text()}${out.text()}`,
      );
    }
    await sleep(20);
  }

  const serverPid = options.npmStart ? (childPids(pid)[0] ?? pid) : pid;
  if (options.npmStart) for (const descendant of descendantPids(pid)) grandchildren.add(descendant);

  return {
    url,
    port,
    pid: serverPid,
    bootstrapRootKey: ROOT_KEY_LINE.exec(out.text())?.[1] ?? null,
    stdout: () => out.text(),
    stderr: () => err.text(),
    exited,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    closeOutput() {
      child.stdout?.destroy();
      child.stderr?.destroy();
    },
    rssKiB: () => rssKiB(serverPid),
  };
}

/** Kills (SIGKILL) every server this process started that is still running, and waits for them. */
export async function stopAllServers(): Promise<void> {
  const children = [...running];
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolveStop) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolveStop();
          child.once("exit", () => resolveStop());
          killTree(child.pid, "SIGKILL");
        }),
    ),
  );
  for (const pid of grandchildren) killTree(pid, "SIGKILL");
  grandchildren.clear();
}

/** A fresh temporary directory with a database path in it, and a way to remove it. */
export function tempDatabase(): { file: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "keymint-"));
  return { file: join(dir, "keymint.db"), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Signals a process and, first, all its descendants (`npm start` runs the server as its child). */
function killTree(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  for (const child of childPids(pid)) killTree(child, signal);
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

function descendantPids(pid: number): number[] {
  return childPids(pid).flatMap((child) => [child, ...descendantPids(child)]);
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * A process's output, kept bounded however long it runs (a soak logs a line per request): the
 * beginning (the bootstrap key, the listening line) and the most recent part.
 */
class CappedText {
  private head = "";
  private tail = "";
  constructor(private readonly limit = 64 * 1024) {}

  append(chunk: string): void {
    if (this.head.length < this.limit) {
      const room = this.limit - this.head.length;
      this.head += chunk.slice(0, room);
      chunk = chunk.slice(room);
    }
    if (chunk.length === 0) return;
    this.tail += chunk;
    if (this.tail.length > 2 * this.limit) this.tail = this.tail.slice(-this.limit);
  }

  text(): string {
    return this.head + this.tail;
  }
}

function listeningPort(stdout: string): number | null {
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const entry = JSON.parse(line) as { msg?: unknown; port?: unknown };
      if (entry.msg === "KeyMint listening" && typeof entry.port === "number") return entry.port;
    } catch {
      // A partial line: wait for the rest.
    }
  }
  return null;
}

function rssKiB(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}

/** One JSON request to a running server, authenticated with `token`; the body parsed when there is one. */
export async function callServer(
  server: ServerProcess,
  token: string,
  method: string,
  path: string,
  body?: unknown,
) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
  return { status: response.status, body: (text ? JSON.parse(text) : null) as any };
}
