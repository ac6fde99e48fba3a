import { createServer } from "node:http";
import { ANSWER_HEADERS } from "../src/middleware/security-headers.js";

/*
 * Below the bare Hono route: node:http alone, doing what bench/baseline-server.ts does (read the
 * Bearer header, parse the JSON body, answer BASELINE_RESPONSE). Used by bench/ceiling.ts.
 *
 * KEYMINT_HEADERS=1 adds the headers every KeyMint response carries (x-request-id, the security
 * headers, the CSP). SPIN_US=N burns N µs of CPU per request before answering: a stand-in for the
 * JavaScript a real handler runs, to see what each microsecond of it costs the server under load.
 */

const port = Number(process.env.PORT ?? 3101);
const hostname = process.env.HOST ?? "127.0.0.1";
const response = process.env.BASELINE_RESPONSE ?? '{"valid":true,"code":"VALID"}';
const spinMs = Number(process.env.SPIN_US ?? 0) / 1000;
const keymintHeaders =
  process.env.KEYMINT_HEADERS === "1"
    ? ["x-request-id", "5b1e0f4c-3d2a-4f6b-9c8d-7e6f5a4b3c2d", ...ANSWER_HEADERS.flat()]
    : [];
const contentLength = String(Buffer.byteLength(response));

function burn(): void {
  const until = performance.now() + spinMs;
  while (performance.now() < until) {
    // busy: this is the point
  }
}

createServer((request, reply) => {
  if (request.method === "GET") {
    reply.writeHead(200, ["content-type", "application/json"]).end('{"status":"ok"}');
    return;
  }
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    const authorized = request.headers.authorization?.startsWith("Bearer ") === true;
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { key?: unknown };
    if (!authorized || typeof body.key !== "string") {
      reply.writeHead(400).end();
      return;
    }
    if (spinMs > 0) burn();
    reply.writeHead(200, [
      ...keymintHeaders,
      "content-type",
      "application/json",
      "content-length",
      contentLength,
    ]);
    reply.end(response);
  });
}).listen(port, hostname);

for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(0));
