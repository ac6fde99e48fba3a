import type { IncomingMessage } from "node:http";

/**
 * Requests answered by the refusal of the bytes that followed their headers (a chunked body that
 * turned malformed, a body that stopped coming; src/server/unparsable-requests.ts), which also logged
 * them. Their route's handler still ends, when the connection closes, and must not log the request
 * again as a client that hung up (499).
 */
const answered = new WeakSet<IncomingMessage>();

export function markAnsweredByRefusal(request: IncomingMessage): void {
  answered.add(request);
}

export function answeredByRefusal(request: IncomingMessage | undefined): boolean {
  return request !== undefined && answered.has(request);
}
