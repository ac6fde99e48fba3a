import { readFileSync } from "node:fs";

/*
 * Reading V8 CPU profiles (node --cpu-prof): where a process's busy time went, by function or by the
 * kind of code it is, over the whole profile or only over chosen windows of time (the measured rounds).
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  /** Microseconds since the sample before (the first: since startTime). */
  timeDeltas: number[];
  /** Microseconds on the monotonic clock, the one process.hrtime reads: windows from another process line up. */
  startTime: number;
}

/** A span of the monotonic clock in microseconds, as `monotonicUs()` reads it. */
export interface Window {
  fromUs: number;
  toUs: number;
}

export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
}

export function frameName(node: ProfileNode): string {
  const frame = node.callFrame;
  const where = frame.url
    ? `${frame.url.replace(/^.*?\/(node_modules|src|dist|bench)\//, "$1/")}:${frame.lineNumber + 1}`
    : "";
  return `${frame.functionName || "(anonymous)"} ${where}`.trim();
}

/**
 * The kind of code a frame is, as the comparison of two servers groups it. writev is the system call
 * that sends a response: its time is the kernel's loopback send, including waking the load generator.
 */
export function kindOf(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  if (functionName === "(garbage collector)") return "garbage collector";
  if (functionName === "(program)") return "(program): V8 and native code outside any JS function";
  if (url === "") {
    return functionName === "writev"
      ? "writev: the response's system call"
      : "other native code (crypto, buffers, regexps, timers)";
  }
  if (url.startsWith("node:")) return "Node's own JS (http, net, streams, events)";
  if (url.includes("/node_modules/")) return "dependencies (hono, lru-cache, zod, pino, drizzle)";
  if (url.includes("/bench/")) return "the bare route's handler";
  return "KeyMint's code (dist/)";
}

export interface TimeSpent {
  /** Busy (not idle) sampled time in the windows, in microseconds. */
  busyUs: number;
  byName: Map<string, number>;
}

/**
 * Self time (where each sample landed) by `nameOf`, counting only samples taken inside `windows`
 * (every sample when there are none). With `inclusive`, each sample counts for every function on its
 * stack once: what a piece of the request path costs as a whole.
 */
export function timeSpent(
  profile: CpuProfile,
  nameOf: (node: ProfileNode) => string = frameName,
  options: { windows?: Window[]; inclusive?: boolean } = {},
): TimeSpent {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const windows = options.windows ?? [];
  const inWindow = (at: number) =>
    windows.length === 0 || windows.some((window) => at >= window.fromUs && at <= window.toUs);
  const byName = new Map<string, number>();
  const add = (name: string, us: number) => byName.set(name, (byName.get(name) ?? 0) + us);
  let busyUs = 0;
  let at = profile.startTime;
  for (const [i, id] of profile.samples.entries()) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === "(idle)" || !inWindow(at)) continue;
    busyUs += delta;
    if (!options.inclusive) {
      add(nameOf(node), delta);
      continue;
    }
    // Each function on the sample's stack once, however often it recurses.
    const seen = new Set<string>();
    for (let up: number | undefined = id; up !== undefined; up = parentOf.get(up)) {
      const frame = byId.get(up);
      if (!frame || frame.callFrame.functionName === "(root)") continue;
      const name = nameOf(frame);
      if (!seen.has(name)) add(name, delta);
      seen.add(name);
    }
  }
  return { busyUs, byName };
}
