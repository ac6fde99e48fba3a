import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { readProfile, timeSpent } from "./lib/profile.js";

/*
 * Top functions of a V8 CPU profile (node --cpu-prof):
 *   tsx bench/profile-top.ts [file.cpuprofile | directory (newest profile in it or below)] [count] [--inclusive]
 *
 * By self time (where the samples landed) or, with --inclusive, by total time (the function and
 * everything it called), which says what a piece of the request path costs as a whole. Shares are
 * of the busy time: idle samples are left out.
 */

function newest(directory: string): string {
  const files: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(at, entry.name));
      else if (entry.name.endsWith(".cpuprofile")) files.push(join(at, entry.name));
    }
  };
  walk(directory);
  files.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (!files[0]) throw new Error(`no .cpuprofile in ${directory}`);
  return files[0];
}

const args = process.argv.slice(2).filter((arg) => arg !== "--inclusive");
const inclusive = process.argv.includes("--inclusive");
const target = args[0] ?? "bench/results/profiles";
const file = statSync(target).isDirectory() ? newest(target) : target;
const { busyUs, byName } = timeSpent(readProfile(file), undefined, { inclusive });
process.stdout.write(`${file} (${inclusive ? "total" : "self"} time, share of busy time)\n`);
for (const [name, us] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, Number(args[1] ?? 30))) {
  const share = `${((us / busyUs) * 100).toFixed(1)}%`;
  process.stdout.write(`${share.padStart(6)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}\n`);
}
