import argon2 from "argon2";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { Argon2Queue } from "../../../src/keys/argon2-queue.js";
import {
  createKey,
  createKeyspace,
  createTestApp,
  requestLinesWritten,
  type TestApp,
} from "../../helpers.js";
import { deferred } from "../../support/verify.js";

/*
 * A client that hangs up while its argon2id hash waits for its turn, or while it is computed: the
 * request is dropped (recorded 499, no failure logged) and nothing is written for it. The app learns
 * of the hang-up from Node's socket, which `app.request()` does not have: the tests hand it one.
 */

let t: TestApp;
let keyspaceId: string;

beforeEach(async () => {
  t = await createTestApp();
  keyspaceId = (await createKeyspace(t, { hashAlgorithm: "argon2id", prefix: "gone" })).id;
  // One argon2 computation at a time.
  t.deps.argon2 = new Argon2Queue(1, Number.POSITIVE_INFINITY);
});

/** Takes the queue's one turn, so that what comes after waits; the returned function gives it back. */
function holdTheOnlyTurn(): () => Promise<void> {
  const held = deferred();
  const turn = t.deps.argon2.run(() => held.promise);
  return async () => {
    held.resolve();
    await turn;
  };
}

/** A request on a socket the test closes when it likes, as Node's server would mark it. */
function onClosableConnection(path: string, body?: string, contentType?: string) {
  const socket = { destroyed: false, remoteAddress: "127.0.0.1" };
  const headers: Record<string, string> = { authorization: `Bearer ${t.rootKey}` };
  if (contentType) headers["content-type"] = contentType;
  const answer = t.app.request(path, { method: "POST", headers, body }, { incoming: { socket } });
  return { answer, hangUp: () => (socket.destroyed = true) };
}

async function settled() {
  await new Promise((resolve) => setImmediate(resolve));
}

function requestLines() {
  requestLinesWritten(t);
  return t.logs.map((line) => JSON.parse(line)).filter((line) => line.route !== undefined);
}

async function keyNames() {
  const page = await t.call("GET", `/v1/keys?keyspaceId=${keyspaceId}`);
  return page.body.data.map((key: { name: string }) => key.name);
}

describe("keys: a create whose client hangs up before its argon2id hash is used", () => {
  it("is dropped while it waits: 499, no key, no hash, no failure logged, and the live create behind it runs", async () => {
    const hashes = vi.spyOn(argon2, "hash");
    const release = holdTheOnlyTurn();
    const abandoned = onClosableConnection(
      "/v1/keys",
      JSON.stringify({ keyspaceId, name: "abandoned" }),
      "application/json",
    );
    const live = t.call("POST", "/v1/keys", { body: { keyspaceId, name: "live" } });
    await settled();
    expect(t.deps.argon2.waitingCount).toBe(2);

    abandoned.hangUp();
    await release();
    expect((await abandoned.answer).status).toBe(499);
    expect((await live).status).toBe(201);

    expect(await keyNames()).toEqual(["live"]);
    // Its turn came, and it was passed over: the one hash computed is the live create's.
    expect(hashes).toHaveBeenCalledTimes(1);
    expect(t.deps.argon2.begunCount).toBe(2); // the held turn, and the live create's hash
    hashes.mockRestore();
    expect(t.logs.join("\n")).not.toContain("request failed");
    expect(
      requestLines()
        .filter((line) => line.route === "/v1/keys")
        .map((line) => line.status),
    ).toEqual([499, 201, 200]);
  });

  it("is dropped when the client hangs up while its hash is computed: the key is not stored", async () => {
    const hashed = deferred();
    const realRun = t.deps.argon2.run.bind(t.deps.argon2);
    // The hang-up lands after the hash has begun and before it is used.
    t.deps.argon2.run = (work, clientGone) =>
      realRun(async () => {
        const result = await work();
        hashed.resolve();
        return result;
      }, clientGone);
    const abandoned = onClosableConnection(
      "/v1/keys",
      JSON.stringify({ keyspaceId, name: "abandoned" }),
      "application/json",
    );
    await hashed.promise;
    abandoned.hangUp();

    expect((await abandoned.answer).status).toBe(499);
    expect(await keyNames()).toEqual([]);
  });
});

describe("keys: a rotation whose client hangs up while its successor's argon2id hash waits", () => {
  // Sent with no body, an empty JSON body (a request the app rebuilds as "{}"), and "{}".
  const bodies: [string, string | undefined, string | undefined][] = [
    ["no body", undefined, undefined],
    ["an empty JSON body", "", "application/json"],
    ["an empty object", "{}", "application/json"],
  ];

  it.each(bodies)("with %s: 499 and the key is not rotated", async (_, body, contentType) => {
    const key = await createKey(t, { keyspaceId, name: "kept" });
    const release = holdTheOnlyTurn();

    const rotation = onClosableConnection(`/v1/keys/${key.id}/rotate`, body, contentType);
    await settled();
    expect(t.deps.argon2.waitingCount).toBe(1);
    rotation.hangUp();
    await release();

    expect((await rotation.answer).status).toBe(499);
    const after = await t.call("GET", `/v1/keys/${key.id}`);
    expect([after.body.expiresAt, after.body.revokedAt, after.body.replacedById]).toEqual([null, null, null]);
    expect(await keyNames()).toEqual(["kept"]);
  });
});
