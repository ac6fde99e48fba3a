import { type ClientRequest, request as httpRequest } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { sample } from "../support/ops.js";
import {
  callServer,
  type ServerProcess,
  startServer,
  stopAllServers,
  tempDatabase,
} from "../support/server-process.js";

/*
 * The real server, with clients that time out and hang up while their argon2id creates wait for a
 * hash: their work is dropped instead of being done ahead of the clients still waiting.
 */

let database: ReturnType<typeof tempDatabase> | undefined;

afterEach(async () => {
  await stopAllServers();
  database?.remove();
  database = undefined;
});

/** A create on a connection of its own, which the test can drop before the answer comes. */
function createOnItsOwnConnection(port: number, token: string, keyspaceId: string) {
  const payload = JSON.stringify({ keyspaceId });
  let answeredId: string | null = null;
  const request: ClientRequest = httpRequest({
    host: "127.0.0.1",
    port,
    method: "POST",
    path: "/v1/keys",
    agent: false,
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(payload)),
    },
  });
  request.on("response", (response) => {
    let text = "";
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => {
      text += chunk;
    });
    response.on("end", () => {
      if (response.statusCode === 201) answeredId = JSON.parse(text).id;
    });
  });
  request.on("error", () => {});
  request.end(payload);
  return { answeredId: () => answeredId, hangUp: () => request.destroy() };
}

async function storedKeyIds(server: ServerProcess, token: string, keyspaceId: string): Promise<string[]> {
  const page = await callServer(server, token, "GET", `/v1/keys?keyspaceId=${keyspaceId}&limit=100`);
  expect(page.body.nextCursor).toBeNull();
  return page.body.data.map((key: { id: string }) => key.id);
}

describe("clients that hang up while their argon2id creates wait", () => {
  it("are not hashed ahead of a live create, and leave no keys behind", async () => {
    database = tempDatabase();
    // A thread pool of 2: one argon2 hash at a time, so the backlog is long and its order plain; and
    // no limit on the wait, so that all 200 wait rather than most being refused when they come.
    const server = await startServer({
      dbFile: database.file,
      env: { UV_THREADPOOL_SIZE: "2", KEYMINT_ARGON2_MAX_WAIT_MS: "3600000" },
    });
    const rootKey = server.bootstrapRootKey ?? "";
    const keyspace = await callServer(server, rootKey, "POST", "/v1/keyspaces", {
      name: "abandoned",
      prefix: "abandoned",
      hashAlgorithm: "argon2id",
    });
    expect(keyspace.status).toBe(201);
    const keyspaceId: string = keyspace.body.id;

    // 200 hashes one at a time is several seconds of work; the clients give up after 300 ms.
    const abandoned = Array.from({ length: 200 }, () =>
      createOnItsOwnConnection(server.port, rootKey, keyspaceId),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const client of abandoned) client.hangUp();
    const answeredBeforeHangUp = abandoned.flatMap((client) => client.answeredId() ?? []);
    expect(answeredBeforeHangUp.length).toBeLessThan(100);

    const live = await callServer(server, rootKey, "POST", "/v1/keys", { keyspaceId, name: "live" });
    expect(live.status).toBe(201);
    // Hashed: the creates answered before the hang-up, one whose answer was still on its way, one
    // under way, and the live one. Not the rest of the 200, whose turns came after their clients had gone.
    const metrics = await fetch(`http://127.0.0.1:${server.port}/metrics`).then((response) =>
      response.text(),
    );
    expect(sample(metrics, "keymint_argon2_computations_total")).toBeLessThanOrEqual(
      answeredBeforeHangUp.length + 3,
    );

    // Every key stored is one a client received, but for the hash (one at a time) that may have been
    // written in the moment the clients hung up.
    const stored = await storedKeyIds(server, rootKey, keyspaceId);
    expect(stored).toContain(live.body.id);
    expect(answeredBeforeHangUp.filter((id) => !stored.includes(id))).toEqual([]);
    expect(stored.length).toBeLessThanOrEqual(answeredBeforeHangUp.length + 2);

    const output = server.stdout();
    expect(output).not.toContain("request failed");
    const hungUp = output
      .split("\n")
      .filter((line) => line.includes('"route":"/v1/keys"') && line.includes('"status":499'));
    // Every request the server read and did not answer is recorded 499. On a loaded machine some of the
    // 200 connections are still unread when their clients hang up: the server never sees those requests.
    expect(hungUp.length).toBeGreaterThanOrEqual(100);
  }, 30_000);
});
