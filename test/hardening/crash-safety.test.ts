import { afterEach, describe, expect, it } from "vitest";
import {
  callServer,
  type ServerProcess,
  startServer,
  stopAllServers,
  tempDatabase,
} from "../support/server-process.js";

/*
 * Kills the real server with SIGKILL while creates, rotates and revokes are in flight, restarts it on
 * the same database file, and checks every acknowledged write:
 * - a key answered 201 (created, or issued by a rotation) verifies VALID;
 * - a key whose revoke was answered 200 verifies REVOKED;
 * - a key whose rotation (grace 0) was answered 201 verifies EXPIRED: its expiresAt became "now".
 * A mutation cut off by the kill (no answer) may or may not have landed: that key may show either.
 */

const CONCURRENCY = 8;
const ROUNDS = 2;
const CREATES_BEFORE_KILL = 120;
const ROUND_LIMIT_MS = 4_000;

type Mutation = "revoke" | "rotate";

interface TrackedKey {
  id: string;
  key: string;
  /** Mutations answered with success. */
  acked: Set<Mutation>;
  /** A mutation sent whose answer never came (cut off by the kill). */
  unanswered: Mutation | null;
  busy: boolean;
}

let database: ReturnType<typeof tempDatabase> | undefined;

afterEach(async () => {
  await stopAllServers();
  database?.remove();
  database = undefined;
});

function expectedCodes(key: TrackedKey): string[] {
  if (key.acked.has("revoke")) return ["REVOKED"];
  if (key.acked.has("rotate")) return ["EXPIRED"];
  if (key.unanswered === "revoke") return ["VALID", "REVOKED"];
  if (key.unanswered === "rotate") return ["VALID", "EXPIRED"];
  return ["VALID"];
}

/** Streams creates, rotates and revokes from CONCURRENCY workers and SIGKILLs the server mid-stream. */
async function streamAndKill(
  server: ServerProcess,
  rootKey: string,
  keyspaceIds: string[],
  keys: TrackedKey[],
) {
  let stop = false;
  let inFlight = 0;
  let inFlightAtKill = 0;
  let createdThisRound = 0;
  const unexpected: string[] = [];
  const started = Date.now();

  const pickIdle = (): TrackedKey | undefined => {
    const idle = keys.filter((key) => !key.busy && key.acked.size === 0 && key.unanswered === null);
    return idle[Math.floor(Math.random() * idle.length)];
  };

  async function step(worker: number, n: number): Promise<void> {
    const roll = Math.random();
    const target = roll < 0.5 ? undefined : pickIdle();
    if (target === undefined) {
      // Every fifth create goes to the argon2id keyspace: the slow hash must be as durable as the fast one.
      const keyspaceId = keyspaceIds[(worker + n) % 5 === 0 ? 1 : 0];
      inFlight++;
      try {
        const response = await callServer(server, rootKey, "POST", "/v1/keys", {
          keyspaceId,
          name: `w${worker}`,
        });
        if (response.status !== 201) unexpected.push(`create ${response.status}`);
        else {
          const body = response.body as { id: string; key: string };
          keys.push({ id: body.id, key: body.key, acked: new Set(), unanswered: null, busy: false });
          createdThisRound++;
        }
      } finally {
        inFlight--;
      }
      return;
    }
    const mutation: Mutation = roll < 0.75 ? "rotate" : "revoke";
    target.busy = true;
    target.unanswered = mutation;
    inFlight++;
    try {
      if (mutation === "rotate") {
        const response = await callServer(server, rootKey, "POST", `/v1/keys/${target.id}/rotate`, {
          gracePeriodSeconds: 0,
        });
        if (response.status !== 201) unexpected.push(`rotate ${response.status}`);
        else {
          const body = response.body as { id: string; key: string };
          target.acked.add("rotate");
          target.unanswered = null;
          keys.push({ id: body.id, key: body.key, acked: new Set(), unanswered: null, busy: false });
        }
      } else {
        const response = await callServer(server, rootKey, "POST", `/v1/keys/${target.id}/revoke`, {
          reason: "crash test",
        });
        if (response.status !== 200) unexpected.push(`revoke ${response.status}`);
        else {
          target.acked.add("revoke");
          target.unanswered = null;
        }
      }
    } finally {
      inFlight--;
      target.busy = false;
    }
  }

  const workers = Array.from({ length: CONCURRENCY }, async (_, worker) => {
    for (let n = 0; !stop; n++) {
      try {
        await step(worker, n);
      } catch {
        // The connection died with the server: the request's outcome is unknown, which the ledger keeps.
        return;
      }
    }
  });

  while (createdThisRound < CREATES_BEFORE_KILL && Date.now() - started < ROUND_LIMIT_MS) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  inFlightAtKill = inFlight;
  const exit = await server.kill("SIGKILL");
  stop = true;
  await Promise.all(workers);
  return { exit, inFlightAtKill, createdThisRound, unexpected };
}

describe("crash safety", () => {
  it("keeps every acknowledged create, rotate and revoke across SIGKILLs mid-stream", async () => {
    database = tempDatabase();
    let server = await startServer({ dbFile: database.file });
    const rootKey = server.bootstrapRootKey;
    expect(rootKey, "the first start prints the bootstrap root key").toMatch(/^km_root_/);
    if (rootKey === null) return;

    const keyspaceIds: string[] = [];
    for (const hashAlgorithm of ["sha256", "argon2id"]) {
      const response = await callServer(server, rootKey, "POST", "/v1/keyspaces", {
        name: hashAlgorithm,
        prefix: `crash${hashAlgorithm === "sha256" ? "a" : "b"}`,
        hashAlgorithm,
      });
      expect(response.status).toBe(201);
      keyspaceIds.push((response.body as { id: string }).id);
    }

    const keys: TrackedKey[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const outcome = await streamAndKill(server, rootKey, keyspaceIds, keys);
      expect(outcome.exit.signal).toBe("SIGKILL");
      expect(outcome.unexpected, "no request failed with an answer before the kill").toEqual([]);
      expect(outcome.inFlightAtKill, "the kill landed with requests in flight").toBeGreaterThan(0);
      expect(outcome.createdThisRound).toBeGreaterThan(20);

      server = await startServer({ dbFile: database.file });
      expect(server.bootstrapRootKey, "a restart on the same database bootstraps nothing").toBeNull();
    }

    const revoked = keys.filter((key) => key.acked.has("revoke")).length;
    const rotated = keys.filter((key) => key.acked.has("rotate")).length;
    expect(keys.length).toBeGreaterThan(100);
    expect(revoked).toBeGreaterThan(5);
    expect(rotated).toBeGreaterThan(5);

    const wrong: string[] = [];
    const queue = [...keys];
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let key = queue.pop(); key !== undefined; key = queue.pop()) {
          const verified = await callServer(server, rootKey, "POST", "/v1/keys/verify", { key: key.key });
          const code = String(verified.body?.code);
          if (verified.status !== 200 || !expectedCodes(key).includes(code)) {
            wrong.push(`${key.id}: verify ${verified.status} ${code}, expected ${expectedCodes(key)}`);
          }
          const stored = await callServer(server, rootKey, "GET", `/v1/keys/${key.id}`);
          if (stored.status !== 200) wrong.push(`${key.id}: GET ${stored.status}`);
          else if (key.acked.has("revoke") && stored.body?.revokedAt === null) {
            wrong.push(`${key.id}: revokedAt lost`);
          } else if (key.acked.has("rotate") && stored.body?.replacedById === null) {
            wrong.push(`${key.id}: replacedById lost`);
          }
        }
      }),
    );
    expect(wrong, `${keys.length} keys checked (${revoked} revoked, ${rotated} rotated)`).toEqual([]);
  }, 90_000);

  it("keeps every credit spent by an acknowledged VALID across a SIGKILL mid-stream", async () => {
    database = tempDatabase();
    let server = await startServer({ dbFile: database.file });
    const rootKey = server.bootstrapRootKey;
    if (rootKey === null) throw new Error("no bootstrap root key");
    const keyspace = await callServer(server, rootKey, "POST", "/v1/keyspaces", {
      name: "c",
      prefix: "crashc",
    });
    const BALANCE = 1_000_000;
    const created = await callServer(server, rootKey, "POST", "/v1/keys", {
      keyspaceId: keyspace.body.id,
      remaining: BALANCE,
    });
    expect(created.status).toBe(201);

    // Concurrent spends share commits (src/db/group-commit.ts): none may be answered before its own.
    let valid = 0;
    let inFlight = 0;
    let inFlightAtKill = 0;
    let stop = false;
    const unexpected: string[] = [];
    const workers = Array.from({ length: CONCURRENCY * 2 }, async () => {
      while (!stop) {
        inFlight++;
        try {
          const answer = await callServer(server, rootKey, "POST", "/v1/keys/verify", {
            key: created.body.key,
          });
          if (answer.body?.code === "VALID") valid++;
          else unexpected.push(`${answer.status} ${answer.body?.code}`);
        } catch {
          return; // The connection died with the server: this spend may or may not have landed.
        } finally {
          inFlight--;
        }
      }
    });
    while (valid < 2_000) await new Promise((resolve) => setTimeout(resolve, 10));
    inFlightAtKill = inFlight;
    expect((await server.kill("SIGKILL")).signal).toBe("SIGKILL");
    stop = true;
    await Promise.all(workers);
    expect(unexpected).toEqual([]);

    server = await startServer({ dbFile: database.file });
    const stored = await callServer(server, rootKey, "GET", `/v1/keys/${created.body.id}`);
    const spent = BALANCE - stored.body.remaining;
    expect(spent, `${valid} VALID answered, ${inFlightAtKill} in flight at the kill`).toBeGreaterThanOrEqual(
      valid,
    );
    expect(spent).toBeLessThanOrEqual(valid + inFlightAtKill);
  }, 60_000);
});
