import type { MiddlewareHandler } from "hono";
import { ApiError } from "../lib/errors.js";

export const MAX_BODY_BYTES = 64 * 1024;
// How much of an oversized body is read and thrown away so the client sees the 413 rather than a reset.
const MAX_DISCARD_BYTES = 16 * 1024 * 1024;

/**
 * Refuses bodies over 64 KiB with 413. The rest of the body is read and discarded first: a client
 * still sending would otherwise get a connection reset instead of the answer.
 */
export function bodyLimit(): MiddlewareHandler {
  return async (c, next) => {
    const request = c.req.raw;
    if (!readsBody(request.method)) return next();
    // The declared length is checked before `request.body` is touched: on @hono/node-server that
    // getter builds a full web Request with a body stream, which costs more than the rest of a verify.
    const declared = request.headers.get("content-length");
    if (declared !== null && !request.headers.has("transfer-encoding")) {
      if (Number(declared) <= MAX_BODY_BYTES) return next();
      if (request.body) await discard(request.body.getReader());
      throw bodyTooLarge();
    }
    if (!request.body) return next();
    // No declared length (chunked): count while reading.
    const reader = request.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) {
        await discard(reader, size);
        throw bodyTooLarge();
      }
      chunks.push(value);
    }
    c.req.raw = new Request(request, { body: Buffer.concat(chunks) });
    return next();
  };
}

/** Whether the limit reads a request's body: never a GET's or a HEAD's (whatever it declares). */
export function readsBody(method: string | undefined): boolean {
  return method !== "GET" && method !== "HEAD";
}

async function discard(reader: ReadableStreamDefaultReader<Uint8Array>, alreadyRead = 0): Promise<void> {
  let size = alreadyRead;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      size += value.byteLength;
      if (size > MAX_DISCARD_BYTES) {
        await reader.cancel();
        return;
      }
    }
  } catch {
    // The client went away: nothing left to discard.
  }
}

export function bodyTooLarge(): ApiError {
  return new ApiError("PAYLOAD_TOO_LARGE", `Request bodies are limited to ${MAX_BODY_BYTES / 1024} KiB.`);
}
