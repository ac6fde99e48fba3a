import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../helpers.js";
import { type LoopbackServer, serveOnLoopback } from "../support/loopback-server.js";

// Contract §3: bodies OVER 64 KiB are 413; a body of exactly 64 KiB with a declared Content-Length is taken.
describe("body limit with a declared content-length, over a real Node server", () => {
  let t: TestApp;
  let served: LoopbackServer;
  let base: string;
  beforeAll(async () => {
    t = await createTestApp();
    served = await serveOnLoopback(t);
    base = served.base;
  });
  afterAll(async () => {
    await served.close();
  });

  it("accepts exactly 65,536 bytes and refuses 65,537", async () => {
    const body = JSON.stringify({ name: "x", prefix: "exactcl" });
    const exact = `${body}${" ".repeat(64 * 1024 - body.length)}`;
    const headers = { authorization: `Bearer ${t.rootKey}`, "content-type": "application/json" };
    const ok = await fetch(`${base}/v1/keyspaces`, { method: "POST", headers, body: exact });
    expect(ok.status).toBe(201);
    const over = await fetch(`${base}/v1/keyspaces`, { method: "POST", headers, body: `${exact} ` });
    expect(over.status).toBe(413);
  });

  it("under app.request too, with an explicit content-length", async () => {
    const body = JSON.stringify({ name: "y", prefix: "exactcl2" });
    const exact = `${body}${" ".repeat(64 * 1024 - body.length)}`;
    const response = await t.app.request("/v1/keyspaces", {
      method: "POST",
      headers: {
        authorization: `Bearer ${t.rootKey}`,
        "content-type": "application/json",
        "content-length": String(exact.length),
      },
      body: exact,
    });
    expect(response.status).toBe(201);
  });
});

// Contract §3: over 64 KiB is 413, and the body is read and discarded (so the client gets the answer).
describe("body limit reads and discards a declared-length oversized body", () => {
  it("consumes the whole body before answering 413", async () => {
    const t = await createTestApp();
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    const CHUNKS = 8;
    let pulled = 0;
    let closed = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled < CHUNKS) {
          pulled++;
          controller.enqueue(chunk);
        } else {
          closed = true;
          controller.close();
        }
      },
    });
    const response = await t.app.request("/v1/keyspaces", {
      method: "POST",
      headers: {
        authorization: `Bearer ${t.rootKey}`,
        "content-type": "application/json",
        "content-length": String(CHUNKS * chunk.byteLength),
      },
      body,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(pulled).toBe(CHUNKS);
    expect(closed).toBe(true);
  });
});
