import { parseArgs } from "node:util";
import { startServer, stopAllServers, tempDatabase } from "../test/support/server-process.js";

/*
 * npm run soak [-- --seconds 60] [--concurrency 32] [--keys 500]
 *
 * Starts the real server (`npm start`: src/ built into dist/, then run) on a temporary database and drives it
 * over HTTP from this process, at full speed with bounded concurrency: 90% verifies, the rest
 * creates, updates, rotates (grace 0) and revokes. Every answer is checked against a ledger of what
 * each key must be by now (a verify overlapping a revoke or rotation of its key may answer as before
 * or after it). Afterwards every acknowledged write is read back. Fails (exit 1) on:
 * - any error: a 5xx, a status or verify code other than the ledger's, a connection failure;
 * - any SQLITE_BUSY (answered 503 UNAVAILABLE);
 * - any lost write: a created key GET cannot find, a revoke, rotation or rename that did not hold;
 * - unstable memory: the server's RSS (from /proc/<pid>/status, sampled every second), median of
 *   the last quarter of the run more than 20% above the median of the second quarter (the first
 *   quarter is warm-up: caches and SQLite's page cache filling).
 * - a SIGTERM at the end that does not exit 0 within 10 s.
 */

const { values: flags } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    concurrency: { type: "string", default: "32" },
    keys: { type: "string", default: "500" },
  },
});
const SECONDS = Number(flags.seconds);
const CONCURRENCY = Number(flags.concurrency);
const INITIAL_KEYS = Number(flags.keys);
const MEMORY_GROWTH_LIMIT = 1.2;
/** The memory check compares quarters of the RSS samples, one a second: it needs 8 at least. */
const MIN_SECONDS = 10;

for (const [flag, value, minimum] of [
  ["--seconds", SECONDS, MIN_SECONDS],
  ["--concurrency", CONCURRENCY, 1],
  ["--keys", INITIAL_KEYS, 1],
] as const) {
  if (!Number.isInteger(value) || value < minimum) {
    process.stderr.write(`${flag} must be a whole number of at least ${minimum}\n`);
    process.exit(2);
  }
}

type Operation = "verify" | "create" | "update" | "rotate" | "revoke";
type KeyState = "active" | "revoked" | "rotated";

interface TrackedKey {
  id: string;
  key: string;
  state: KeyState;
  /** The last name an acknowledged update gave it. */
  name: string;
  busy: boolean;
}

interface Tally {
  count: number;
  latenciesMs: number[];
}

const tallies = new Map<Operation, Tally>();
const errors: string[] = [];
let busyAnswers = 0;
let errorCount = 0;

/** The verify code a key in this state answers. */
function codeFor(state: KeyState): string {
  return state === "active" ? "VALID" : state === "revoked" ? "REVOKED" : "EXPIRED";
}

function record(operation: Operation, startedAt: number): void {
  let tally = tallies.get(operation);
  if (!tally) {
    tally = { count: 0, latenciesMs: [] };
    tallies.set(operation, tally);
  }
  tally.count++;
  // A sample is plenty for percentiles and keeps this process's memory flat.
  if (tally.count % 4 === 0 || tally.latenciesMs.length < 1000)
    tally.latenciesMs.push(performance.now() - startedAt);
}

function fail(what: string): void {
  errorCount++;
  if (errors.length < 20) errors.push(what);
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function median(values: number[]): number {
  return percentile(values, 50);
}

async function main(): Promise<void> {
  const database = tempDatabase();
  const server = await startServer({ dbFile: database.file, env: {}, npmStart: true });
  const rootKey = server.bootstrapRootKey;
  if (rootKey === null) throw new Error("no bootstrap root key");
  const headers = { authorization: `Bearer ${rootKey}`, "content-type": "application/json" };

  async function api(method: string, path: string, body?: unknown) {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    // biome-ignore lint/suspicious/noExplicitAny: the soak reads arbitrary JSON answers
    return { status: response.status, body: (text ? JSON.parse(text) : null) as any };
  }

  try {
    const keyspace = await api("POST", "/v1/keyspaces", { name: "soak", prefix: "soak" });
    if (keyspace.status !== 201) throw new Error(`keyspace: ${keyspace.status}`);
    const keys: TrackedKey[] = [];
    const create = async (n: number) => {
      // A third spend credits (a write per verify), a third carry a rate limit far above the load.
      const extra =
        n % 3 === 0
          ? { remaining: 1_000_000_000 }
          : n % 3 === 1
            ? { ratelimit: { limit: 1_000_000, durationMs: 1000 } }
            : {};
      const created = await api("POST", "/v1/keys", {
        keyspaceId: keyspace.body.id,
        name: `k${n}`,
        ...extra,
      });
      return created;
    };
    for (let n = 0; n < INITIAL_KEYS; n++) {
      const created = await create(n);
      if (created.status !== 201) throw new Error(`seed create: ${created.status}`);
      keys.push({ id: created.body.id, key: created.body.key, state: "active", name: `k${n}`, busy: false });
    }

    const rss: number[] = [];
    const sampler = setInterval(() => {
      const kib = server.rssKiB();
      if (kib !== null) rss.push(kib);
    }, 1000);

    const deadline = performance.now() + SECONDS * 1000;
    let created = INITIAL_KEYS;
    const pick = (filter: (key: TrackedKey) => boolean): TrackedKey | undefined => {
      for (let attempt = 0; attempt < 20; attempt++) {
        const key = keys[Math.floor(Math.random() * keys.length)];
        if (key && !key.busy && filter(key)) return key;
      }
      return undefined;
    };

    async function step(): Promise<void> {
      const roll = Math.random();
      if (roll < 0.9) {
        const target = pick(() => true);
        if (!target) return;
        const startedAt = performance.now();
        const sentWhen = target.state;
        const answer = await api("POST", "/v1/keys/verify", { key: target.key });
        record("verify", startedAt);
        // A revoke or rotation acknowledged before the verify was sent must show. One acknowledged
        // while it was in flight ran concurrently with it: either answer is right.
        const expected = new Set([codeFor(sentWhen), codeFor(target.state)]);
        if (answer.status === 503) busyAnswers++;
        else if (answer.status !== 200 || !expected.has(answer.body.code)) {
          fail(
            `verify ${target.id} (${target.state}): ${answer.status} ${answer.body?.code}, expected ${[...expected].join(" or ")}`,
          );
        }
        return;
      }
      const operation: Operation =
        roll < 0.94 ? "create" : roll < 0.97 ? "update" : roll < 0.985 ? "rotate" : "revoke";
      const startedAt = performance.now();
      if (operation === "create") {
        const n = created++;
        const answer = await create(n);
        record("create", startedAt);
        if (answer.status === 503) busyAnswers++;
        else if (answer.status !== 201) fail(`create: ${answer.status} ${answer.body?.code}`);
        else
          keys.push({
            id: answer.body.id,
            key: answer.body.key,
            state: "active",
            name: `k${n}`,
            busy: false,
          });
        return;
      }
      const target = pick((key) => key.state === "active");
      if (!target) return;
      target.busy = true;
      try {
        if (operation === "update") {
          const name = `renamed-${Math.random().toString(36).slice(2, 8)}`;
          const answer = await api("PATCH", `/v1/keys/${target.id}`, { name, meta: { at: Date.now() } });
          record("update", startedAt);
          if (answer.status === 503) busyAnswers++;
          else if (answer.status !== 200) fail(`update: ${answer.status} ${answer.body?.code}`);
          else target.name = name;
        } else if (operation === "rotate") {
          const answer = await api("POST", `/v1/keys/${target.id}/rotate`, { gracePeriodSeconds: 0 });
          record("rotate", startedAt);
          if (answer.status === 503) busyAnswers++;
          else if (answer.status !== 201) fail(`rotate: ${answer.status} ${answer.body?.code}`);
          else {
            target.state = "rotated";
            keys.push({
              id: answer.body.id,
              key: answer.body.key,
              state: "active",
              name: target.name,
              busy: false,
            });
          }
        } else {
          const answer = await api("POST", `/v1/keys/${target.id}/revoke`, { reason: "soak" });
          record("revoke", startedAt);
          if (answer.status === 503) busyAnswers++;
          else if (answer.status !== 200) fail(`revoke: ${answer.status} ${answer.body?.code}`);
          else target.state = "revoked";
        }
      } finally {
        target.busy = false;
      }
    }

    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < deadline) {
          try {
            await step();
          } catch (error) {
            fail(`request failed: ${error instanceof Error ? error.message : String(error)}`);
          }
        }
      }),
    );
    const elapsedS = (performance.now() - started) / 1000;
    clearInterval(sampler);

    // Every acknowledged write, read back.
    let lost = 0;
    const lostSamples: string[] = [];
    const queue = [...keys];
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let key = queue.pop(); key !== undefined; key = queue.pop()) {
          const stored = await api("GET", `/v1/keys/${key.id}`);
          const wrong =
            stored.status !== 200
              ? `GET ${stored.status}`
              : stored.body.name !== key.name
                ? `name ${stored.body.name}, expected ${key.name}`
                : key.state === "revoked" && stored.body.revokedAt === null
                  ? "revoke lost"
                  : key.state === "rotated" && stored.body.replacedById === null
                    ? "rotation lost"
                    : null;
          if (wrong !== null) {
            lost++;
            if (lostSamples.length < 10) lostSamples.push(`${key.id}: ${wrong}`);
          }
        }
      }),
    );

    const quarter = Math.floor(rss.length / 4);
    const secondQuarter = median(rss.slice(quarter, 2 * quarter));
    const lastQuarter = median(rss.slice(3 * quarter));
    const growth = secondQuarter > 0 ? lastQuarter / secondQuarter : 1;
    const memoryStable = rss.length >= 8 && growth <= MEMORY_GROWTH_LIMIT;

    const sent = Date.now();
    const exit = await server.kill("SIGTERM");
    const exitMs = Date.now() - sent;
    const cleanExit = exit.code === 0 && exitMs < 10_000;

    const total = [...tallies.values()].reduce((sum, tally) => sum + tally.count, 0);
    const states = { active: 0, revoked: 0, rotated: 0 };
    for (const key of keys) states[key.state]++;
    const lines = [
      `KeyMint soak: ${elapsedS.toFixed(1)} s, concurrency ${CONCURRENCY}, ${INITIAL_KEYS} keys seeded`,
      `requests: ${total} (${Math.round(total / elapsedS)}/s)`,
      ...[...tallies].map(
        ([operation, tally]) =>
          `  ${operation.padEnd(7)} ${String(tally.count).padStart(8)}  p50 ${percentile(tally.latenciesMs, 50).toFixed(2)} ms  p99 ${percentile(tally.latenciesMs, 99).toFixed(2)} ms`,
      ),
      `keys at the end: ${keys.length} (${states.active} active, ${states.revoked} revoked, ${states.rotated} rotated away)`,
      `errors: ${errorCount}${errors.length ? `\n    ${errors.join("\n    ")}` : ""}`,
      `SQLITE_BUSY (503): ${busyAnswers}`,
      `lost writes: ${lost} of ${keys.length} keys read back${lostSamples.length ? `\n    ${lostSamples.join("\n    ")}` : ""}`,
      `server RSS: ${rss.length} samples, min ${Math.round(Math.min(...rss) / 1024)} MiB, max ${Math.round(Math.max(...rss) / 1024)} MiB; ` +
        `median 2nd quarter ${Math.round(secondQuarter / 1024)} MiB, last quarter ${Math.round(lastQuarter / 1024)} MiB ` +
        `(x${growth.toFixed(3)}, limit x${MEMORY_GROWTH_LIMIT}): ${memoryStable ? "stable" : "NOT STABLE"}`,
      `server RSS every 10 s (MiB): ${rss
        .filter((_, i) => i % 10 === 9)
        .map((kib) => Math.round(kib / 1024))
        .join(" ")}`,
      `SIGTERM: exit ${exit.code ?? exit.signal} in ${exitMs} ms`,
    ];
    const passed = errorCount === 0 && busyAnswers === 0 && lost === 0 && memoryStable && cleanExit;
    lines.push(passed ? "PASS" : "FAIL");
    process.stdout.write(`${lines.join("\n")}\n`);
    process.exitCode = passed ? 0 : 1;
  } finally {
    await stopAllServers();
    database.remove();
  }
}

main().catch(async (error: unknown) => {
  process.stderr.write(`soak failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  await stopAllServers();
  process.exitCode = 1;
});
