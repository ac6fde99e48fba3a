import type { Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createHttpServer } from "../../src/server/http-server.js";
import { createKey, createKeyspace, createTestApp, requestLinesWritten, type TestApp } from "../helpers.js";
import {
  closeServer,
  type LoopbackServer,
  listenOnLoopback,
  serveOnLoopback,
} from "../support/loopback-server.js";
import { rawConnection, statusLines } from "../support/raw-connection.js";

// On Node the secure headers and x-request-id take another path (straight onto the ServerResponse)
// than under app.request(): the same promises, checked over a real loopback socket, on the server
// production runs (verify's fast path in front of the app).
describe("HTTP over a real Node server", () => {
  const APP_ORIGIN = "https://app.example.com";
  let t: TestApp;
  let served: LoopbackServer;
  let server: Server;
  let base: string;
  beforeAll(async () => {
    t = await createTestApp({ config: { KEYMINT_CORS_ORIGINS: [APP_ORIGIN] } });
    served = await serveOnLoopback(t);
    ({ server, base } = served);
  });
  afterAll(async () => {
    await served.close();
  });

  const auth = () => ({ authorization: `Bearer ${t.rootKey}` });
  const port = () => served.port;

  /** The request log line written under `requestId`, once it is written. */
  function requestLineOf(requestId: string | undefined): Promise<Record<string, unknown>> {
    return vi.waitFor(() => {
      requestLinesWritten(t);
      const found = t.logs.find((logged) => logged.includes(`"requestId":"${requestId}"`));
      if (found === undefined) throw new Error("no request line yet");
      return JSON.parse(found);
    });
  }

  function expectSecureHeaders(response: Response, csp = "default-src 'none'; frame-ancestors 'none'") {
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    expect(response.headers.get("content-security-policy")).toBe(csp);
  }

  it("sends the secure headers and echoes a sane x-request-id on a success", async () => {
    const response = await fetch(`${base}/v1/keyspaces`, {
      headers: { ...auth(), "x-request-id": "node-1" },
    });
    expect(response.status).toBe(200);
    expectSecureHeaders(response);
    expect(response.headers.get("x-request-id")).toBe("node-1");
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("sends them on a problem too, with a generated id for an insane one", async () => {
    const response = await fetch(`${base}/v1/nowhere`, { headers: { ...auth(), "x-request-id": "bad id" } });
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expectSecureHeaders(response);
    const id = response.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(((await response.json()) as { requestId: string }).requestId).toBe(id);
  });

  it("keeps the docs page's own CSP", async () => {
    const response = await fetch(`${base}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
  });

  it("answers 413 to a body over 64 KiB, which the client receives whole", async () => {
    const body = JSON.stringify({ name: "x", prefix: "nodebig", pad: "x".repeat(256 * 1024) });
    const response = await fetch(`${base}/v1/keyspaces`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/json" },
      body,
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { code: string }).code).toBe("PAYLOAD_TOO_LARGE");
    expectSecureHeaders(response);
  });

  // Contract §3: bodies OVER 64 KiB are 413; a body of exactly 64 KiB with a declared Content-Length is taken.
  it("accepts a body of exactly 65,536 bytes with its content-length and refuses 65,537", async () => {
    const body = JSON.stringify({ name: "x", prefix: "exactcl" });
    const exact = `${body}${" ".repeat(64 * 1024 - body.length)}`;
    const headers = { ...auth(), "content-type": "application/json" };
    const ok = await fetch(`${base}/v1/keyspaces`, { method: "POST", headers, body: exact });
    expect(ok.status).toBe(201);
    const over = await fetch(`${base}/v1/keyspaces`, { method: "POST", headers, body: `${exact} ` });
    expect(over.status).toBe(413);
  });

  it("answers 413 to a chunked body over 64 KiB", async () => {
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 10) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const response = await fetch(`${base}/v1/keyspaces`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
  });

  it.each([
    ["the app", "/v1/keys"],
    ["verify's fast path", "/v1/keys/verify"],
  ])("records a client that hangs up mid-body in %s as 499, not as a server error", async (_, path) => {
    await fetch(`${base}/v1/keyspaces`, { headers: auth() }); // caches the root key for the fast path
    const requestId = `abort-${path.length}`;
    const socket = connect(port(), "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      `POST ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.rootKey}\r\nx-request-id: ${requestId}\r\n` +
        `content-type: application/json\r\ncontent-length: 100\r\n\r\n{"a`,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    const line = await requestLineOf(requestId);
    expect(line).toMatchObject({ method: "POST", route: path, status: 499 });
    expect(t.logs.filter((logged) => logged.includes('"request failed"'))).toStrictEqual([]);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).not.toMatch(/keymint_http_requests_total\{[^}]*status="5\d\d"/);
  });

  it.each([
    ["the app", "/v1/keys", (keyspaceId: string) => ({ keyspaceId })],
    ["verify's fast path", "/v1/keys/verify", (_: string, key: string) => ({ key })],
  ])("records a client that hangs up while %s works (an argon2id hash) as 499", async (_, path, body) => {
    await fetch(`${base}/v1/keyspaces`, { headers: auth() }); // caches the root key for the fast path
    const slow = await createKeyspace(t, { hashAlgorithm: "argon2id" });
    const { key } = await createKey(t, { keyspaceId: slow.id }); // not in the verify cache yet
    const requestId = `gone-${path.length}`;
    const json = JSON.stringify(body(slow.id, key));
    const socket = connect(port(), "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      `POST ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.rootKey}\r\nx-request-id: ${requestId}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    socket.destroy();
    const line = await requestLineOf(requestId);
    expect(line).toMatchObject({ method: "POST", route: path, status: 499 });
  });

  /** Sends `raw` on a fresh connection and reads everything until the server closes it. */
  async function sendRaw(raw: string): Promise<{ head: string; body: string }> {
    const connection = await rawConnection(port());
    connection.socket.write(raw);
    await connection.closed;
    const [head = "", body = ""] = connection.received().split("\r\n\r\n");
    return { head: head.toLowerCase(), body };
  }

  it.each([
    [
      "a Host header that forms no URL",
      "GET /v1/keys HTTP/1.1\r\nhost: a b\r\nx-request-id: bad-host\r\nconnection: close\r\n\r\n",
      "bad-host",
    ],
    ["a malformed request line", "NOT HTTP AT ALL\r\n\r\n", undefined],
    [
      "an HTTP/1.1 request without a Host header",
      "GET /v1/keys HTTP/1.1\r\nx-request-id: no-host\r\n\r\n",
      "no-host",
    ],
    [
      "a request line that says HTTP/2.0",
      "GET /healthz HTTP/2.0\r\nhost: x\r\nx-request-id: http-2\r\n\r\n",
      "http-2",
    ],
    [
      "a request with two Host headers",
      "GET /v1/keys HTTP/1.1\r\nHost: a.example\r\nhost: b.example\r\nx-request-id: two-hosts\r\n\r\n",
      "two-hosts",
    ],
    [
      "a body in a transfer coding other than chunked",
      "POST /v1/keyspaces HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip, chunked\r\nx-request-id: gzip-te\r\n" +
        "content-type: application/json\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
      "gzip-te",
    ],
  ])("answers %s with a problem, a request id and the secure headers, logged", async (_, raw, givenId) => {
    const { head, body } = await sendRaw(raw);
    expect(head).toMatch(/^http\/1\.1 400 /);
    expect(head).toContain("content-type: application/problem+json");
    expect(head).toContain("x-content-type-options: nosniff");
    const requestId = /x-request-id: (\S+)/.exec(head)?.[1];
    if (givenId !== undefined) expect(requestId).toBe(givenId);
    else expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(body)).toMatchObject({ status: 400, code: "BAD_REQUEST", requestId });
    const line = await requestLineOf(requestId);
    expect(line).toMatchObject({ route: "unmatched", status: 400 });
  });

  it("answers headers over 16 KiB 431 with a BAD_REQUEST problem, a request id and the secure headers, logged", async () => {
    const { head, body } = await sendRaw(
      `GET /v1/keys HTTP/1.1\r\nhost: x\r\nx-filler: ${"f".repeat(20_000)}\r\n\r\n`,
    );
    expect(head).toMatch(/^http\/1\.1 431 request header fields too large\r\n/);
    expect(head).toContain("content-type: application/problem+json");
    expect(head).toContain("x-content-type-options: nosniff");
    expect(head).toContain("connection: close");
    const requestId = /x-request-id: (\S+)/.exec(head)?.[1];
    expect(JSON.parse(body)).toEqual({
      type: "https://keymint.dev/problems/bad-request",
      title: "Request Header Fields Too Large",
      status: 431,
      detail: "The request's headers are too large: at most 16 KiB.",
      code: "BAD_REQUEST",
      requestId,
    });
    const line = await requestLineOf(requestId as string);
    expect(line).toMatchObject({ method: "UNPARSED", route: "unmatched", status: 431 });
  });

  it("serves an HTTP/1.0 request with a chunked body, then closes its connection (its framing is suspect)", async () => {
    const { head, body } = await sendRaw(
      `GET /v1/keyspaces HTTP/1.0\r\nauthorization: Bearer ${t.rootKey}\r\nconnection: keep-alive\r\n` +
        "transfer-encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    expect(head).toMatch(/^http\/1\.1 200 /);
    expect(head).toContain("connection: close");
    expect(JSON.parse(body)).toHaveProperty("data");
  });

  it("answers a CONNECT 404 with a problem and a request id, logged, as any method no route serves", async () => {
    const { head, body } = await sendRaw(
      "CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\nx-request-id: connect-1\r\n\r\n",
    );
    expect(head).toMatch(/^http\/1\.1 404 not found\r\n/);
    expect(head).toContain("content-type: application/problem+json");
    expect(head).toContain("x-request-id: connect-1");
    expect(JSON.parse(body)).toMatchObject({ status: 404, code: "NOT_FOUND", requestId: "connect-1" });
    expect(await requestLineOf("connect-1")).toMatchObject({
      method: "CONNECT",
      route: "unmatched",
      status: 404,
    });
  });

  it.each([
    ["without a Host header", "CONNECT example.com:443 HTTP/1.1\r\n"],
    ["with two", "CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\nhost: other.example:443\r\n"],
  ])("refuses a CONNECT %s 400, as any other request", async (_, requestHead) => {
    const { head, body } = await sendRaw(
      `${requestHead}x-request-id: connect-host-${requestHead.length}\r\n\r\n`,
    );
    expect(head).toMatch(/^http\/1\.1 400 /);
    expect(JSON.parse(body)).toMatchObject({ status: 400, code: "BAD_REQUEST" });
    expect(await requestLineOf(`connect-host-${requestHead.length}`)).toMatchObject({
      method: "CONNECT",
      status: 400,
    });
  });

  it("refuses a verify without a Host header before the fast path answers it", async () => {
    await fetch(`${base}/v1/keyspaces`, { headers: auth() }); // caches the root key for the fast path
    const { key } = await createKey(t, { keyspaceId: (await createKeyspace(t)).id });
    const json = JSON.stringify({ key });
    const { head, body } = await sendRaw(
      `POST /v1/keys/verify HTTP/1.1\r\nauthorization: Bearer ${t.rootKey}\r\nx-request-id: hostless-verify\r\n` +
        `content-type: application/json\r\ncontent-length: ${json.length}\r\n\r\n${json}`,
    );
    expect(head).toMatch(/^http\/1\.1 400 /);
    expect(head).toContain("content-type: application/problem+json");
    expect(JSON.parse(body)).toMatchObject({
      status: 400,
      code: "BAD_REQUEST",
      requestId: "hostless-verify",
    });
    expect(await requestLineOf("hostless-verify")).toMatchObject({ route: "unmatched", status: 400 });
  });

  it.each([
    ["the app", "/v1/keyspaces"],
    ["verify's fast path", "/v1/keys/verify"],
  ])("serves a request in %s whose Expect header it does not know as one without it", async (_, path) => {
    await fetch(`${base}/v1/keyspaces`, { headers: auth() }); // caches the root key for the fast path
    const { key } = await createKey(t, { keyspaceId: (await createKeyspace(t)).id });
    const json = JSON.stringify({ key });
    const requestId = `expect-${path.length}`;
    const request =
      path === "/v1/keyspaces"
        ? `GET ${path} HTTP/1.1\r\n`
        : `POST ${path} HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: ${json.length}\r\n`;
    const { head, body } = await sendRaw(
      `${request}host: x\r\nauthorization: Bearer ${t.rootKey}\r\nexpect: something-else\r\n` +
        `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n${path === "/v1/keyspaces" ? "" : json}`,
    );
    expect(head).toMatch(/^http\/1\.1 200 /);
    expect(head).toContain(`x-request-id: ${requestId}`);
    if (path !== "/v1/keyspaces") expect(JSON.parse(body)).toMatchObject({ valid: true, code: "VALID" });
  });

  it("answers the requests pipelined before a malformed one first, in order, then refuses it", async () => {
    await fetch(`${base}/v1/keyspaces`, { headers: auth() }); // caches the root key for the fast path
    const { key } = await createKey(t, { keyspaceId: (await createKeyspace(t)).id });
    const json = JSON.stringify({ key });
    const { socket, received, closed } = await rawConnection(port());
    // One write: node parses all three at once, and meets the bad bytes before it answers the first.
    socket.write(
      `POST /v1/keys/verify HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.rootKey}\r\n` +
        `content-type: application/json\r\ncontent-length: ${json.length}\r\n\r\n${json}` +
        "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n" +
        "NOT HTTP AT ALL\r\n\r\n",
    );
    await closed;
    expect(statusLines(received())).toEqual(["HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 400"]);
    expect(received()).toContain('"code":"VALID"');
    expect(received()).toContain('"code":"BAD_REQUEST"');
  });

  it("neither answers nor records a client that hangs up in the middle of its headers", async () => {
    const unparsedLines = () => {
      requestLinesWritten(t);
      return t.logs.filter((line) => line.includes('"UNPARSED"')).length;
    };
    const before = unparsedLines();
    const { socket, received, closed } = await rawConnection(port(), { allowHalfOpen: true });
    socket.end("GET /v1/keys HTTP/1.1\r\nhost: x\r\nx-partial: ");
    await closed;
    expect(received()).toBe("");
    expect(unparsedLines()).toBe(before);
  });

  it("closes a connection it refused, though the client keeps its side open", async () => {
    const accepted = new Promise<import("node:net").Socket>((resolve) => server.once("connection", resolve));
    const { socket, received } = await rawConnection(port(), { allowHalfOpen: true });
    const serverSide = await accepted;
    socket.write("NOT HTTP AT ALL\r\n\r\n");
    await new Promise<void>((resolve) => socket.once("end", () => resolve()));
    expect(received()).toMatch(/^HTTP\/1\.1 400 /);
    // Ended alone, the server's side would stay half-open for as long as the client holds its own.
    // After a short linger (500 ms), so the client can read the answer before the connection goes.
    await vi.waitFor(() => expect(serverSide.destroyed).toBe(true), { timeout: 3_000 });
    socket.destroy();
  });

  it.each([
    ["part of a request", "GET /v1/keys HTTP/1.1\r\nhost: x\r\n", true],
    ["nothing (a preconnect), unlogged", "", false],
  ])(
    "answers a connection that sent %s before its time ran out 408, with a request id, and closes it",
    async (_, sent, logged) => {
      const accepted = new Promise<import("node:net").Socket>((resolve) =>
        server.once("connection", resolve),
      );
      const { socket, received, closed } = await rawConnection(port());
      const serverSide = await accepted;
      if (sent !== "") {
        socket.write(sent);
        await vi.waitFor(() => expect(serverSide.bytesRead).toBe(sent.length));
      }
      // What node's headers timeout raises after 60 s, raised at once.
      server.emit(
        "clientError",
        Object.assign(new Error("Request Timeout"), { code: "ERR_HTTP_REQUEST_TIMEOUT" }),
        serverSide,
      );
      await closed;
      const [head = "", body = ""] = received().split("\r\n\r\n");
      expect(head).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(head.toLowerCase()).toContain("connection: close");
      expect(head.toLowerCase()).toContain("content-type: application/problem+json");
      const requestId = /x-request-id: ([0-9a-f-]{36})\r\n/i.exec(received())?.[1];
      expect(requestId).toBeDefined();
      expect(JSON.parse(body)).toMatchObject({
        title: "Request Timeout",
        status: 408,
        code: "BAD_REQUEST",
        requestId,
      });
      requestLinesWritten(t);
      expect(t.logs.some((line) => line.includes(`"requestId":"${requestId}"`))).toBe(logged);
    },
  );

  it("answers a listed origin's preflight and lets it read the answer", async () => {
    const preflight = await fetch(`${base}/v1/keys`, {
      method: "OPTIONS",
      headers: {
        origin: APP_ORIGIN,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
    const response = await fetch(`${base}/v1/keys`, { headers: { ...auth(), origin: APP_ORIGIN } });
    expect(response.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
    expect(response.headers.get("access-control-expose-headers")).toContain("x-request-id");
    const other = await fetch(`${base}/v1/keys`, {
      headers: { ...auth(), origin: "https://evil.example.com" },
    });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("never lets a PATCH that arrives with a rotation extend the rotated-away key's life", async () => {
    /** A connection of its own, open; `answered` resolves to the answer once the server has closed it. */
    const connection = () =>
      new Promise<{ send: (method: string, path: string, body: unknown) => void; answered: Promise<string> }>(
        (resolve, reject) => {
          const socket = connect(port(), "127.0.0.1");
          let answer = "";
          const answered = new Promise<string>((done) => socket.on("close", () => done(answer)));
          socket.on("data", (chunk: Buffer) => {
            answer += chunk.toString();
          });
          socket.on("error", reject);
          const send = (method: string, path: string, body: unknown) => {
            const text = JSON.stringify(body);
            socket.write(
              `${method} ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.rootKey}\r\n` +
                `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n` +
                `connection: close\r\n\r\n${text}`,
            );
          };
          socket.once("connect", () => resolve({ send, answered }));
        },
      );
    const keyspace = await createKeyspace(t);
    for (let i = 0; i < 20; i++) {
      const key = await createKey(t, { keyspaceId: keyspace.id });
      // Both bodies reach the server in one turn of its event loop: the check of the PATCH and its write
      // must not be split by the rotation's.
      const [rotation, patch] = [await connection(), await connection()];
      rotation.send("POST", `/v1/keys/${key.id}/rotate`, { gracePeriodSeconds: 0 });
      patch.send("PATCH", `/v1/keys/${key.id}`, { expiresAt: null });
      const [rotated, patched] = await Promise.all([rotation.answered, patch.answered]);
      expect(rotated.split("\r\n")[0], `run ${i}`).toBe("HTTP/1.1 201 Created");
      // Before the rotation, the PATCH clears the expiry (200); after it, it may not extend it (409).
      expect(["HTTP/1.1 200 OK", "HTTP/1.1 409 Conflict"], `run ${i}`).toContain(patched.split("\r\n")[0]);
      const old = (await t.call("GET", `/v1/keys/${key.id}`)).body;
      expect(old.replacedById, `run ${i}`).not.toBeNull();
      expect(old.expiresAt, `run ${i}`).not.toBeNull();
    }
  });

  it("serves a chunked body whose Transfer-Encoding names the coding in another case (RFC 9112 §7: case-insensitive)", async () => {
    const json = JSON.stringify({ name: "te case", prefix: "tecase" });
    const { head, body } = await sendRaw(
      `POST /v1/keyspaces HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.rootKey}\r\n` +
        "content-type: application/json\r\ntransfer-encoding: Chunked\r\nconnection: close\r\n\r\n" +
        `${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`,
    );
    expect(head).toMatch(/^http\/1\.1 201 /);
    expect(JSON.parse(body)).toMatchObject({ name: "te case", prefix: "tecase" });
  });

  it("serves an HTTP/1.0 request without a Host header when HOST is an IPv6 address", async () => {
    // HOST=::1: its URLs are http://[::1]/…; serveOnLoopback's server is HOST=127.0.0.1's.
    const v6 = await listenOnLoopback(createHttpServer(t.app, t.deps, "::1"));
    try {
      const connection = await rawConnection((v6.address() as AddressInfo).port);
      connection.socket.write("GET /healthz HTTP/1.0\r\nx-request-id: v6-no-host\r\n\r\n");
      await connection.closed;
      expect(statusLines(connection.received())).toEqual(["HTTP/1.1 200"]);
    } finally {
      await closeServer(v6);
    }
  });
});
