import { parseArgs } from "node:util";
import { type Loader, type LoadSpec, median, runLoad, wrkAvailable } from "./lib/load.js";
import { killAll, type RunningServer, startBaseline, startScript } from "./lib/processes.js";
import { machineInfo, table } from "./lib/report.js";

/*
 * npx tsx bench/ceiling.ts [--rounds 3] [--duration 4] [--spin 3,6,10] [--loader wrk|autocannon]
 *
 * What the bare Hono route itself costs, and what each microsecond of JavaScript costs a server
 * under this load. In alternating rounds, with the same bodies at 32 connections, it drives:
 * - the bare Hono route (bench/baseline-server.ts, the baseline of `npm run bench`);
 * - node:http alone doing the same (bench/raw-node-server.ts), without and with KeyMint's headers;
 * - the latter burning N µs of CPU per request, for each N in --spin.
 * It prints req/s and server CPU per request (medians), and for each spin the CPU it added per
 * request: more than N when the kernel's side of each response grows with the server's own time.
 */

const { values: flags } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "4" },
    spin: { type: "string", default: "3,6,10" },
    connections: { type: "string", default: "32" },
    loader: { type: "string" },
  },
});
const rounds = Number(flags.rounds);
const durationS = Number(flags.duration);
const connections = Number(flags.connections);
const spins = flags.spin.split(",").map(Number);
const loader: Loader = (flags.loader as Loader | undefined) ?? (wrkAvailable() ? "wrk" : "autocannon");

// The shape and size of a VALID verify answer (KeyMint's own is captured by `npm run bench`).
const RESPONSE = JSON.stringify({
  valid: true,
  code: "VALID",
  keyId: "key_3kTMd9bQeVn5Xw2Rj8HpLc",
  keyspaceId: "ks_7YhQ2mWc9TbVx4Rp",
  ownerId: null,
  name: null,
  meta: {},
  scopes: [],
  expiresAt: null,
});
const BODIES = Array.from({ length: 1_000 }, (_, i) =>
  JSON.stringify({ key: `doc_${String(i).padStart(50, "0")}` }),
);
const HEADERS = { authorization: "Bearer km_root_ceiling", "content-type": "application/json" };

interface Contender {
  name: string;
  start: () => Promise<RunningServer>;
  /** Burnt per request, in µs: 0 for the servers that do only the work itself. */
  spinUs: number;
}

const raw = (spinUs: number, keymintHeaders: boolean) => () =>
  startScript("raw node:http", "bench/raw-node-server.ts", {
    BASELINE_RESPONSE: RESPONSE,
    KEYMINT_HEADERS: keymintHeaders ? "1" : "0",
    SPIN_US: String(spinUs),
  });

const contenders: Contender[] = [
  { name: "bare Hono route", start: () => startBaseline(RESPONSE), spinUs: 0 },
  { name: "node:http", start: raw(0, false), spinUs: 0 },
  { name: "node:http + KeyMint's headers", start: raw(0, true), spinUs: 0 },
  ...spins.map((us) => ({ name: `node:http + headers + ${us} µs of JS`, start: raw(us, true), spinUs: us })),
];

interface Sample {
  rps: number;
  cpuUs: number;
}

/** The same load for every server: these bodies and headers, at --connections, for `seconds`. */
function loadOn(server: RunningServer, seconds: number): LoadSpec {
  return {
    url: server.url,
    method: "POST",
    path: "/v1/keys/verify",
    headers: HEADERS,
    bodies: BODIES,
    connections,
    durationS: seconds,
  };
}

async function measure(server: RunningServer): Promise<Sample> {
  const cpuBefore = server.cpuSeconds();
  const result = await runLoad(loader, loadOn(server, durationS));
  if (result.failures > 0) throw new Error(`${server.name}: ${result.failures} failed requests`);
  return { rps: result.rps, cpuUs: ((server.cpuSeconds() - cpuBefore) * 1e6) / result.requests };
}

async function main(): Promise<void> {
  const servers = [];
  for (const contender of contenders) servers.push(await contender.start());
  // One warm-up pass, so that every server is compiled and its caches warm before it is measured.
  for (const server of servers) await runLoad(loader, loadOn(server, 1));
  const samples: Sample[][] = contenders.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, server] of servers.entries()) {
      const sample = await measure(server);
      samples[i]?.push(sample);
      process.stderr.write(
        `[ceiling] round ${round + 1} ${contenders[i]?.name}: ${Math.round(sample.rps)} req/s, ${sample.cpuUs.toFixed(1)} µs/req\n`,
      );
    }
  }
  await Promise.all(servers.map((server) => server.stop()));

  const medians = samples.map((list) => ({
    rps: median(list.map((s) => s.rps)),
    cpuUs: median(list.map((s) => s.cpuUs)),
  }));
  const hono = medians[0] as Sample;
  const withHeaders = medians[2] as Sample;
  const rows = contenders.map((contender, i) => {
    const m = medians[i] as Sample;
    const added = contender.spinUs > 0 ? (m.cpuUs - withHeaders.cpuUs).toFixed(1) : "";
    return [
      contender.name,
      Math.round(m.rps).toLocaleString("en-US"),
      (m.rps / hono.rps).toFixed(2),
      m.cpuUs.toFixed(1),
      added,
    ];
  });
  const machine = machineInfo();
  process.stdout.write(
    `\n${machine.cpuModel}, ${machine.cores} cores, node ${process.version}, ${loader}, ${connections} connections, ${rounds} × ${durationS} s rounds (medians)\n\n`,
  );
  process.stdout.write(
    `${table(["server", "req/s", "vs bare Hono", "CPU µs/req", "CPU added by the JS (µs/req)"], rows)}\n`,
  );
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(killAll);
