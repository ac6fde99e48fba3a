import { execFileSync } from "node:child_process";
import { cpus, release, totalmem } from "node:os";
import { REPO_ROOT } from "./processes.js";

export interface Side {
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  failures: number;
  /** Server CPU (all threads) per request in microseconds: steadier than req/s on a shared machine. */
  cpuUsPerRequest: number;
}

export interface Round {
  baseline: Side;
  subject: Side;
  /** subject rps / baseline rps */
  ratio: number;
  /** subject p99 / baseline p99 */
  p99Ratio: number;
  /** Share of the subject's verify lookups answered by its cache, from /metrics. */
  cacheHitRate: number;
  /** Share of the subject's verifications that were VALID, from /metrics. */
  validRate: number;
  /** baseline CPU per request / subject CPU per request */
  cpuRatio: number;
}

export interface Comparison {
  name: string;
  group: "hit" | "miss" | "argon2-hit" | "credits-hit";
  stored: number;
  connections: number;
  rounds: Round[];
  median: {
    subject: Side;
    baseline: Side;
    ratio: number;
    p99Ratio: number;
    cacheHitRate: number;
    validRate: number;
    cpuRatio: number;
  };
}

export interface Single {
  name: string;
  stored: number;
  connections: number;
  result: Side;
  notes?: Record<string, number | string | boolean>;
}

export interface Goal {
  goal: string;
  target: string;
  value: string;
  pass: boolean | null;
}

export function machineInfo() {
  const cpuList = cpus();
  let commit = "unknown";
  let dirty = false;
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: REPO_ROOT,
      encoding: "utf8",
    }).trim();
    dirty =
      execFileSync("git", ["status", "--porcelain", "--", "src"], {
        cwd: REPO_ROOT,
        encoding: "utf8",
      }).trim() !== "";
  } catch {
    // not a git checkout
  }
  return {
    cpuModel: cpuList[0]?.model ?? "unknown",
    cores: cpuList.length,
    memoryBytes: totalmem(),
    os: `${process.platform} ${release()}`,
    node: process.version,
    commit,
    srcDirty: dirty,
  };
}

const fmt = {
  rps: (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "-"),
  ms: (value: number) => (Number.isFinite(value) ? value.toFixed(2) : "-"),
  ratio: (value: number) => (Number.isFinite(value) ? value.toFixed(2) : "-"),
  us: (value: number) => (Number.isFinite(value) ? value.toFixed(0) : "-"),
  pct: (value: number) => (Number.isFinite(value) ? `${(value * 100).toFixed(0)}%` : "-"),
};

export function formatStored(count: number): string {
  if (count >= 1_000_000 && count % 1_000_000 === 0) return `${count / 1_000_000}M`;
  if (count >= 1_000 && count % 1_000 === 0) return `${count / 1_000}k`;
  return String(count);
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join(" | ")} |`;
  // Biome's markdown style, so that a table pasted into README.md passes `npm run lint` as it is.
  const rule = `| ${widths.map((width, i) => (i === 0 ? "-".repeat(width) : `${"-".repeat(width - 1)}:`)).join(" | ")} |`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** Markdown tables: the comparisons with the bare route, then the single measurements, then the goals. */
export function renderTables(comparisons: Comparison[], singles: Single[], goals: Goal[]): string {
  const compared = table(
    [
      "scenario",
      "keys stored",
      "KeyMint req/s",
      "p50 ms",
      "p99 ms",
      "bare Hono req/s",
      "p50 ms",
      "p99 ms",
      "ratio (per round)",
      "p99 ratio",
      "CPU µs/req (bare)",
      "cache hits",
    ],
    comparisons.map((c) => [
      c.name,
      formatStored(c.stored),
      fmt.rps(c.median.subject.rps),
      fmt.ms(c.median.subject.p50Ms),
      fmt.ms(c.median.subject.p99Ms),
      fmt.rps(c.median.baseline.rps),
      fmt.ms(c.median.baseline.p50Ms),
      fmt.ms(c.median.baseline.p99Ms),
      `${fmt.ratio(c.median.ratio)} (${c.rounds.map((r) => fmt.ratio(r.ratio)).join(" ")})`,
      fmt.ratio(c.median.p99Ratio),
      `${fmt.us(c.median.subject.cpuUsPerRequest)} (${fmt.us(c.median.baseline.cpuUsPerRequest)})`,
      fmt.pct(c.median.cacheHitRate),
    ]),
  );
  const measured = table(
    ["scenario", "keys stored", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "notes"],
    singles.map((s) => [
      s.name,
      formatStored(s.stored),
      fmt.rps(s.result.rps),
      fmt.ms(s.result.p50Ms),
      fmt.ms(s.result.p99Ms),
      fmt.us(s.result.cpuUsPerRequest),
      Object.entries(s.notes ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(", "),
    ]),
  );
  const goalTable = table(
    ["goal", "target", "measured", "met"],
    goals.map((g) => [g.goal, g.target, g.value, g.pass === null ? "n/a" : g.pass ? "yes" : "NO"]),
  );
  return `${compared}\n\n${measured}\n\n${goalTable}`;
}
