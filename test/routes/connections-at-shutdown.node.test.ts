import { afterEach, describe, expect, it, vi } from "vitest";
import { connectionsAtShutdown } from "../../src/server/connections-at-shutdown.js";
import { createKeyspace, createTestApp, type TestApp } from "../helpers.js";
import { type LoopbackServer, serveOnLoopback } from "../support/loopback-server.js";
import { type RawConnection, rawConnection, statusLines } from "../support/raw-connection.js";
import { deferred } from "../support/verify.js";

// What index.ts does with the server's connections at a shutdown, on a real loopback socket: start()
// where the signal would come, and each connection must close after the answer to its last request.
describe("connections at a shutdown", () => {
  let t: TestApp;
  let served: LoopbackServer;
  let connections: ReturnType<typeof connectionsAtShutdown>;
  let port: number;

  async function listening() {
    t = await createTestApp();
    served = await serveOnLoopback(t);
    connections = connectionsAtShutdown(served.server);
    port = served.port;
  }
  afterEach(async () => {
    connections.closeAll();
    await served.close();
  });

  /** Who closes `connection` within `ms`: "the server", or "nobody". */
  function closer(connection: RawConnection, ms: number): Promise<unknown> {
    return Promise.race([
      connection.closed.then(() => "the server"),
      new Promise((resolve) => setTimeout(() => resolve("nobody"), ms)),
    ]);
  }

  /** A connection whose POST got its answer (401: no root key) with 10 bytes of its 20-byte body still to come. */
  async function answeredBeforeItsBody(): Promise<RawConnection> {
    const connection = await rawConnection(port);
    connection.socket.write(
      "POST /v1/keyspaces HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n0123456789",
    );
    await vi.waitFor(() => expect(statusLines(connection.received())).toEqual(["HTTP/1.1 401"]));
    return connection;
  }

  /** An argon2id key create as raw bytes: slow enough to be in flight when start() is called. */
  async function slowCreate(): Promise<string> {
    const keyspace = await createKeyspace(t, { hashAlgorithm: "argon2id" });
    const body = JSON.stringify({ keyspaceId: keyspace.id });
    return (
      `POST /v1/keys HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.rootKey}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
    );
  }

  it("forgets a connection once it closes, also one whose last request was never run", async () => {
    await listening();
    for (const bytes of [
      "GET /healthz HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\nGET /healthz HTTP/1.1\r\nhost: x\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\nGET /healthz HTTP/1.1\r\nhost: x\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    ]) {
      const connection = await rawConnection(port);
      connection.socket.write(bytes);
      await connection.closed;
    }
    await vi.waitFor(() => expect(connections.tracked()).toBe(0));
  });

  it("closes a connection after its last answer when that answer was written before the signal, queued behind a slower one", async () => {
    await listening();
    const connection = await rawConnection(port);
    connection.socket.write(`${await slowCreate()}GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n`);
    await new Promise((resolve) => setTimeout(resolve, 5)); // the health check is answered, and waits its turn
    connections.start();
    served.server.closeIdleConnections();
    expect(await closer(connection, 3_000)).toBe("the server");
    expect(statusLines(connection.received())).toEqual(["HTTP/1.1 201", "HTTP/1.1 200"]);
  });

  it("runs no request that comes after the connection was closed behind its last answer", async () => {
    await listening();
    const connection = await rawConnection(port, { allowHalfOpen: true });
    const ended = new Promise((resolve) => connection.socket.once("end", resolve));
    connection.socket.write(`${await slowCreate()}GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n`);
    await new Promise((resolve) => setTimeout(resolve, 5));
    connections.start();
    await ended; // the server's FIN: a client that had not read it yet sends its next request
    const body = JSON.stringify({ name: "after the end", prefix: "afterend" });
    connection.socket.end(
      `POST /v1/keyspaces HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.rootKey}\r\n` +
        `content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    await connection.closed;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(statusLines(connection.received())).toEqual(["HTTP/1.1 201", "HTTP/1.1 200"]);
    const keyspaces = (await t.call("GET", "/v1/keyspaces")).body.data as { prefix: string }[];
    expect(keyspaces.map((keyspace) => keyspace.prefix)).not.toContain("afterend");
  });

  it("closes a connection whose answer went out before its body had all come, once the body is read", async () => {
    await listening();
    const connection = await answeredBeforeItsBody();
    connections.start();
    served.server.closeIdleConnections();
    await new Promise((resolve) => setTimeout(resolve, 100));
    connection.socket.write("0123456789");
    expect(await closer(connection, 3_000)).toBe("the server");
  });

  it("answers a CONNECT pipelined behind a request in flight at the signal, after that request", async () => {
    await listening();
    const connection = await rawConnection(port);
    connection.socket.write(
      `${await slowCreate()}GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n` +
        "CONNECT a.example:443 HTTP/1.1\r\nhost: a.example:443\r\n\r\n",
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    connections.start();
    served.server.closeIdleConnections();
    await connection.closed;
    expect(statusLines(connection.received())).toEqual(["HTTP/1.1 201", "HTTP/1.1 200", "HTTP/1.1 404"]);
  });

  it("keeps an HTTP/1.0 answer's own connection: close when a request is pipelined behind it after the signal", async () => {
    await listening();
    const connection = await rawConnection(port);
    const body = JSON.stringify({ name: "late", prefix: "late" });
    connection.socket.write(
      `POST /v1/keyspaces HTTP/1.0\r\nauthorization: Bearer ${t.rootKey}\r\ncontent-type: application/json\r\n` +
        "connection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n",
    );
    await new Promise((resolve) => setTimeout(resolve, 50)); // its headers have arrived
    connections.start();
    connection.socket.write(
      `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nhost: x\r\n\r\n`,
    );
    expect(await closer(connection, 3_000)).toBe("the server");
    expect(statusLines(connection.received())).toEqual(["HTTP/1.1 201"]);
    expect(connection.received().toLowerCase()).toContain("connection: close");
  });

  it("at the deadline, closes a connection whose CONNECT waits for its turn behind a request in flight", async () => {
    await listening();
    // Every argon2 turn held: the create stays in flight, and the CONNECT behind it unanswered.
    const held = deferred();
    const turns = Array.from({ length: t.deps.config.KEYMINT_ARGON2_CONCURRENCY }, () =>
      t.deps.argon2.run(() => held.promise),
    );
    try {
      const connection = await rawConnection(port);
      connection.socket.write(
        `${await slowCreate()}CONNECT a.example:443 HTTP/1.1\r\nhost: a.example:443\r\n\r\n`,
      );
      await new Promise((resolve) => setTimeout(resolve, 50)); // node has handed the CONNECT over
      connections.start();
      connections.closeAll();
      expect(await closer(connection, 1_000)).toBe("the server");
    } finally {
      held.resolve();
      await Promise.allSettled(turns);
    }
  });

  it("answers a request pipelined behind the body of an answer that went out before it, and then closes", async () => {
    await listening();
    const connection = await answeredBeforeItsBody();
    connections.start();
    // The rest of the body, and a request after it: the newest now, so it is answered, and closes.
    connection.socket.write("0123456789GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n");
    expect(await closer(connection, 3_000)).toBe("the server");
    expect(statusLines(connection.received())).toEqual(["HTTP/1.1 401", "HTTP/1.1 200"]);
    expect(connection.received().toLowerCase()).toContain("connection: close");
  });
});
