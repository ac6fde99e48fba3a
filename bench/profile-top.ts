import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/*
 * Top functions of a V8 CPU profile (node --cpu-prof):
 *   tsx bench/profile-top.ts [file.cpuprofile | directory (newest profile)] [count] [--inclusive]
 *
 * By self time (where the samples landed) or, with --inclusive, by total time (the function and
 * everything it called), which says what a piece of the request path costs as a whole. Shares are
 * of the busy time: idle samples are left out.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  ms: number;
  share: number;
}

function newest(directory: string): string {
  const files = readdirSync(directory)
    .filter((name) => name.endsWith(".cpuprofile"))
    .map((name) => join(directory, name))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (!files[0]) throw new Error(`no .cpuprofile in ${directory}`);
  return files[0];
}

function frameName(node: ProfileNode): string {
  const frame = node.callFrame;
  const where = frame.url
    ? `${frame.url.replace(/^.*\/(node_modules|src)\//, "$1/")}:${frame.lineNumber + 1}`
    : "";
  return `${frame.functionName || "(anonymous)"} ${where}`.trim();
}

export function topFunctions(file: string, count = 25, inclusive = false): ProfileRow[] {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const timeUs = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const delta = profile.timeDeltas[i] ?? 0;
    if (!node || node.callFrame.functionName === "(idle)") return;
    busy += delta;
    if (!inclusive) {
      const name = frameName(node);
      timeUs.set(name, (timeUs.get(name) ?? 0) + delta);
      return;
    }
    // Each function on the sample's stack once, however often it recurses.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const frame = byId.get(at);
      if (!frame || frame.callFrame.functionName === "(root)") continue;
      const name = frameName(frame);
      if (seen.has(name)) continue;
      seen.add(name);
      timeUs.set(name, (timeUs.get(name) ?? 0) + delta);
    }
  });
  return [...timeUs]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, us]) => ({ name, ms: us / 1000, share: us / busy }));
}

if (process.argv[1]?.endsWith("profile-top.ts")) {
  const args = process.argv.slice(2).filter((arg) => arg !== "--inclusive");
  const inclusive = process.argv.includes("--inclusive");
  const target = args[0] ?? "bench/results/profiles";
  const file = statSync(target).isDirectory() ? newest(target) : target;
  process.stdout.write(`${file} (${inclusive ? "total" : "self"} time, share of busy time)\n`);
  for (const row of topFunctions(file, Number(args[1] ?? 30), inclusive)) {
    process.stdout.write(
      `${(row.share * 100).toFixed(1).padStart(5)}%  ${row.ms.toFixed(0).padStart(7)} ms  ${row.name}\n`,
    );
  }
}
