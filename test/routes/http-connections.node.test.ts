import type { Server } from "node:http";
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { MAX_BODY_BYTES } from "../../src/middleware/body-limit.js";
import { createKey, createKeyspace, createTestApp, requestLinesWritten, type TestApp } from "../helpers.js";
import { type LoopbackServer, serveOnLoopback } from "../support/loopback-server.js";
import { rawConnection, statusLines } from "../support/raw-connection.js";

// What a connection carries besides one well-formed request at a time: requests pipelined behind a
// refused or closing one, a body that breaks off or turns malformed, a CONNECT behind pending answers,
// an Expect: 100-continue for a body over the limit. Over a real loopback socket.
describe("connections over a real Node server", () => {
  let t: TestApp;
  let served: LoopbackServer;
  let server: Server;
  let port: number;
  beforeAll(async () => {
    t = await createTestApp();
    served = await serveOnLoopback(t);
    ({ server, port } = served);
  });
  afterAll(async () => {
    server.closeAllConnections();
    await served.close();
  });

  /** A verify of `key` as raw bytes, under `requestId`. */
  function verifyBytes(key: string, requestId: string): string {
    const json = JSON.stringify({ key });
    return (
      `POST /v1/keys/verify HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.rootKey}\r\n` +
      `x-request-id: ${requestId}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(json)}\r\n\r\n${json}`
    );
  }

  function loggedIds(): string[] {
    requestLinesWritten(t);
    return t.logs.map((line) => /"requestId":"([^"]+)"/.exec(line)?.[1] ?? "");
  }

  async function keyWithCredits(remaining: number) {
    await t.call("GET", "/v1/keyspaces"); // caches the root key, so that verify takes its fast path
    return createKey(t, { keyspaceId: (await createKeyspace(t)).id, remaining });
  }

  async function remainingOf(keyId: string): Promise<unknown> {
    return (await t.call("GET", `/v1/keys/${keyId}`)).body.remaining;
  }

  it.each([
    ["refused for its two Host headers", "GET /healthz HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n", 400],
    [
      "whose client asked to close the connection",
      "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
      200,
    ],
    [
      "in HTTP/1.0 with a chunked body (its framing is suspect)",
      "POST /healthz HTTP/1.0\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
      404,
    ],
  ])("runs no request pipelined behind one %s: its answer could never be sent", async (_, first, status) => {
    const { id, key } = await keyWithCredits(5);
    const requestId = `behind-${status}-${first.length}`;
    const connection = await rawConnection(port);
    connection.socket.write(first + verifyBytes(key, requestId));
    await connection.closed;
    expect(statusLines(connection.received())).toEqual([`HTTP/1.1 ${status}`]);
    expect(await remainingOf(id)).toBe(5); // no credit spent on a verify nobody could read
    expect(loggedIds()).not.toContain(requestId);
  });

  it("answers 400 to a chunked body that turns malformed, under the request's own id, logged once", async () => {
    const connection = await rawConnection(port);
    connection.socket.write(
      `POST /v1/keyspaces HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.rootKey}\r\nx-request-id: bad-chunks\r\n` +
        'content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"a":\r\nZZ\r\n',
    );
    await connection.closed;
    expect(statusLines(connection.received())).toEqual(["HTTP/1.1 400"]);
    expect(connection.received()).toContain('"code":"BAD_REQUEST"');
    expect(connection.received()).toContain("x-request-id: bad-chunks");
    // The route's handler ends when the connection closes: it must not log the request again as a 499.
    await new Promise((resolve) => setTimeout(resolve, 100));
    requestLinesWritten(t);
    const lines = t.logs.filter((line) => line.includes('"requestId":"bad-chunks"'));
    expect(lines.map((line) => JSON.parse(line))).toMatchObject([{ method: "POST", status: 400 }]);
  });

  it.each([
    ["the app", "/v1/keyspaces"],
    ["verify's fast path", "/v1/keys/verify"],
  ])(
    "answers 408 to a request in %s whose body stopped coming, after the answers before it, logged once",
    async (_, path) => {
      await t.call("GET", "/v1/keyspaces"); // caches the root key, so that verify takes its fast path
      const requestId = `stalled-${path.length}`;
      const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
      const connection = await rawConnection(port);
      const serverSide = await accepted;
      const sent =
        "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n" +
        `POST ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.rootKey}\r\nx-request-id: ${requestId}\r\n` +
        'content-type: application/json\r\ncontent-length: 50\r\n\r\n{"name":';
      connection.socket.write(sent);
      await vi.waitFor(() => expect(serverSide.bytesRead).toBe(sent.length));
      await vi.waitFor(() => expect(statusLines(connection.received())).toEqual(["HTTP/1.1 200"]));
      // What node's request timeout raises after 300 s, raised at once.
      const timeout = Object.assign(new Error("Request Timeout"), { code: "ERR_HTTP_REQUEST_TIMEOUT" });
      server.emit("clientError", timeout, serverSide);
      await connection.closed;
      expect(statusLines(connection.received())).toEqual(["HTTP/1.1 200", "HTTP/1.1 408"]);
      expect(connection.received()).toContain(`x-request-id: ${requestId}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      requestLinesWritten(t);
      const lines = t.logs.filter((line) => line.includes(`"requestId":"${requestId}"`));
      expect(lines.map((line) => JSON.parse(line))).toMatchObject([{ method: "POST", status: 408 }]);
    },
  );

  it("survives a client that sends a CONNECT behind a pending answer and then resets the connection", async () => {
    const connection = await rawConnection(port);
    connection.socket.pause(); // reads nothing: the answer to the GET stays pending
    connection.socket.write(
      "GET /openapi.json HTTP/1.1\r\nhost: x\r\n\r\nCONNECT a.example:443 HTTP/1.1\r\nhost: a.example:443\r\n\r\n",
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    connection.socket.resetAndDestroy();
    await connection.closed;
    await new Promise((resolve) => setTimeout(resolve, 100));
    // An uncaught ECONNRESET on the handed-over socket would have ended the process (and this run).
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it("answers a verify pipelined before a refused request and a CONNECT, then the refusal alone", async () => {
    const { id, key } = await keyWithCredits(5);
    const connection = await rawConnection(port);
    connection.socket.write(
      `${verifyBytes(key, "verify-before-connect")}GET /healthz HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n` +
        "CONNECT a.example:443 HTTP/1.1\r\nhost: a.example:443\r\nx-request-id: connect-after\r\n\r\n",
    );
    await connection.closed;
    expect(statusLines(connection.received())).toEqual(["HTTP/1.1 200", "HTTP/1.1 400"]);
    expect(await remainingOf(id)).toBe(4); // the credit spent, and the client told
    expect(loggedIds()).not.toContain("connect-after");
  });

  it("neither answers nor logs a CONNECT pipelined behind a refused request", async () => {
    const connection = await rawConnection(port);
    connection.socket.write(
      "GET /healthz HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n" +
        "CONNECT a.example:443 HTTP/1.1\r\nhost: a.example:443\r\nx-request-id: connect-behind-refusal\r\n\r\n",
    );
    await connection.closed;
    expect(statusLines(connection.received())).toEqual(["HTTP/1.1 400"]);
    expect(loggedIds()).not.toContain("connect-behind-refusal");
  });

  it("answers a CONNECT pipelined behind a request in order, after that request's answer", async () => {
    const connection = await rawConnection(port);
    connection.socket.write(
      "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\nCONNECT a.example:443 HTTP/1.1\r\nhost: a.example:443\r\n\r\n",
    );
    await connection.closed;
    expect(statusLines(connection.received())).toEqual(["HTTP/1.1 200", "HTTP/1.1 404"]);
  });

  it.each([
    ["expect: 100-continue\r\n", "/v1/keyspaces"],
    ["expect: 100-continue\r\nexpect: 100-continue\r\n", "/v1/keyspaces"],
    ["Expect: 100-Continue, something-else\r\n", "/v1/keyspaces"],
    ["expect: 100-continue\r\n", "/v1?x=1"],
    ["expect: 100-continue\r\n", "http://x/v1/keyspaces"],
  ])(
    "answers 413 instead of 100 Continue to %j for a body over the limit (%s)",
    async (expectation, target) => {
      const requestId = `too-big-continue-${expectation.length}-${target.length}`;
      const connection = await rawConnection(port);
      connection.socket.write(
        `POST ${target} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.rootKey}\r\n` +
          `x-request-id: ${requestId}\r\ncontent-type: application/json\r\n` +
          `content-length: ${MAX_BODY_BYTES + 1}\r\n${expectation}\r\n`,
      );
      await connection.closed;
      expect(statusLines(connection.received())).toEqual(["HTTP/1.1 413"]);
      expect(connection.received()).toContain(`x-request-id: ${requestId}`);
      expect(connection.received()).toContain('"code":"PAYLOAD_TOO_LARGE"');
      expect(connection.received().toLowerCase()).toContain("connection: close");
      expect(loggedIds().filter((id) => id === requestId)).toHaveLength(1);
    },
  );

  it.each([
    ["without a Host header", "", `${MAX_BODY_BYTES + 1}`],
    ["with two Host headers", "host: a\r\nhost: b\r\n", "2"],
  ])("refuses an Expect: 100-continue %s 400, without asking for its body", async (_, hosts, length) => {
    const connection = await rawConnection(port);
    connection.socket.write(
      `POST /v1/keyspaces HTTP/1.1\r\n${hosts}content-type: application/json\r\n` +
        `content-length: ${length}\r\nexpect: 100-continue\r\n\r\n`,
    );
    await connection.closed;
    expect(statusLines(connection.received())).toEqual(["HTTP/1.1 400"]);
  });

  it("neither answers nor logs an Expect: 100-continue pipelined behind a refused request", async () => {
    const connection = await rawConnection(port);
    connection.socket.write(
      "GET /healthz HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n" +
        "POST /v1/keyspaces HTTP/1.1\r\nhost: x\r\nx-request-id: behind-refusal-413\r\n" +
        `expect: 100-continue\r\ncontent-length: ${MAX_BODY_BYTES + 1}\r\n\r\n`,
    );
    await connection.closed;
    expect(statusLines(connection.received())).toEqual(["HTTP/1.1 400"]);
    expect(loggedIds()).not.toContain("behind-refusal-413");
  });

  it("answers a request once, logged once, when its body fails after its answer went out", async () => {
    const unparsedLines = () => {
      requestLinesWritten(t);
      return t.logs.filter((line) => line.includes('"UNPARSED"')).length;
    };
    const before = unparsedLines();
    const connection = await rawConnection(port);
    connection.socket.write(
      "POST /no-such-route HTTP/1.1\r\nhost: x\r\nx-request-id: answered-early\r\ntransfer-encoding: chunked\r\n\r\n",
    );
    await vi.waitFor(() => expect(statusLines(connection.received())).toEqual(["HTTP/1.1 404"]));
    connection.socket.write("ZZ\r\n");
    await connection.closed;
    expect(statusLines(connection.received())).toEqual(["HTTP/1.1 404"]);
    expect(loggedIds().filter((id) => id === "answered-early")).toHaveLength(1);
    expect(unparsedLines()).toBe(before);
  });

  it.each([
    ["a GET", "GET /v1/keyspaces", "HTTP/1.1 401"],
    ["a POST outside /v1/", "POST /healthz", "HTTP/1.1 404"],
  ])(
    "answers %s whose Expect: 100-continue declares a body over the limit as it would without one",
    async (_, line, status) => {
      const connection = await rawConnection(port);
      connection.socket.write(
        `${line} HTTP/1.1\r\nhost: x\r\ncontent-length: ${MAX_BODY_BYTES + 1}\r\nexpect: 100-continue\r\n\r\n`,
      );
      await vi.waitFor(() => expect(connection.received()).toContain(status));
      connection.socket.destroy();
    },
  );

  it("sends 100 Continue to an Expect: 100-continue within the limit, and serves the request", async () => {
    const connection = await rawConnection(port);
    const json = JSON.stringify({ name: "continued", prefix: "cont" });
    connection.socket.write(
      `POST /v1/keyspaces HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.rootKey}\r\n` +
        `content-type: application/json\r\ncontent-length: ${json.length}\r\nexpect: 100-continue\r\n` +
        "connection: close\r\n\r\n",
    );
    await vi.waitFor(() => expect(connection.received()).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\n$/));
    connection.socket.write(json);
    await connection.closed;
    expect(statusLines(connection.received())).toEqual(["HTTP/1.1 100", "HTTP/1.1 201"]);
  });
});
