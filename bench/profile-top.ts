import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/*
 * Top self-time functions of a V8 CPU profile (node --cpu-prof):
 *   tsx bench/profile-top.ts [file.cpuprofile | directory (newest profile)] [count]
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

function newest(directory: string): string {
  const files = readdirSync(directory)
    .filter((name) => name.endsWith(".cpuprofile"))
    .map((name) => join(directory, name))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (!files[0]) throw new Error(`no .cpuprofile in ${directory}`);
  return files[0];
}

export function topSelfTime(file: string, count = 25): { name: string; ms: number; share: number }[] {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const delta = profile.timeDeltas[i] ?? 0;
    if (!node) return;
    const frame = node.callFrame;
    const where = frame.url
      ? `${frame.url.replace(/^.*\/(node_modules|src)\//, "$1/")}:${frame.lineNumber + 1}`
      : "";
    const name = `${frame.functionName || "(anonymous)"} ${where}`.trim();
    selfUs.set(name, (selfUs.get(name) ?? 0) + delta);
    total += delta;
  });
  return [...selfUs]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, us]) => ({ name, ms: us / 1000, share: us / total }));
}

if (process.argv[1]?.endsWith("profile-top.ts")) {
  const target = process.argv[2] ?? "bench/results/profiles";
  const file = statSync(target).isDirectory() ? newest(target) : target;
  process.stdout.write(`${file}\n`);
  for (const row of topSelfTime(file, Number(process.argv[3] ?? 30))) {
    process.stdout.write(
      `${(row.share * 100).toFixed(1).padStart(5)}%  ${row.ms.toFixed(0).padStart(7)} ms  ${row.name}\n`,
    );
  }
}
