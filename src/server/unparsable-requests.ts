import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { RequestError } from "@hono/node-server";
import type { AppDeps } from "../deps.js";
import { ApiError } from "../lib/errors.js";
import { bodyTooLarge, MAX_BODY_BYTES, readsBody } from "../middleware/body-limit.js";
import { errorAnswers } from "../middleware/errors.js";
import { ANSWER_HEADERS } from "../middleware/security-headers.js";
import { markAnsweredByRefusal } from "../observability/answered-by-refusal.js";
import { givenRequestId, requestIdPolicy } from "../observability/request-id.js";
import type { NodeListener } from "./verify-fast-path.js";

/** How long a refused connection may stay open after its answer, for the client to read it. */
const LINGER_MS = 500;

/** What node's HTTP server keeps on a connection's socket, read by afterPendingAnswers. */
type NodeSocket = Duplex & {
  _httpMessage?: ServerResponse | null;
  parser?: { incoming: IncomingMessage | null } | null;
};

/** The method recorded for a request node could not parse far enough to read one. */
const UNPARSED_METHOD = "UNPARSED";

// Refusals of what node's parser could not read. No contract code is a 408 or a 431: they carry
// BAD_REQUEST, with the status HTTP gives them (RFC 9110 §15.5.9, RFC 6585 §5), as node answers them.
const NOT_HTTP = new ApiError("BAD_REQUEST", "The request is not valid HTTP/1.1.");
const HEADERS_TOO_LARGE = new ApiError(
  "BAD_REQUEST",
  "The request's headers are too large: at most 16 KiB.",
  undefined,
  undefined,
  431,
);
const REQUEST_TIMEOUT = new ApiError(
  "BAD_REQUEST",
  "The request did not arrive in time: its headers within 60 s, all of it within 300 s.",
  undefined,
  undefined,
  408,
);

/**
 * Answers for the requests that never reach the app, with what every other answer has (contract §6,
 * §8): a problem+json body, an x-request-id, the security headers, a log line and the metrics.
 *
 * - `requestErrorHandler`: @hono/node-server's errorHandler. The adapter cannot build a URL from the
 *   request's target or Host header (`Host: a b`) and would answer a bare 400 itself.
 * - `answerClientErrors`: node's own HTTP parser refused the bytes (a malformed request line, headers
 *   over 16 KiB, a request that took too long to arrive) and would write a bare 400, 408 or 431 and close.
 * - `refusingBadHeaders`: an HTTP/1.1 request without a Host header, which node would answer a bare
 *   400, and a request with two, a transfer coding other than chunked, or a request line that says
 *   HTTP/2.0 or 0.9, which node would serve.
 * - `answerConnect`: a CONNECT, which node would close without an answer (404, or 400 for its Host).
 * - `answerContinue`: an `Expect: 100-continue` for a body over the limit, which node would ask for
 *   (413 instead of 100 Continue, in refusingBadHeaders).
 */
export function unparsableRequests(deps: AppDeps) {
  const answerError = errorAnswers(deps);
  const requestIdFor = requestIdPolicy(deps.config);

  interface Answer {
    status: number;
    headers: [string, string][];
    body: string;
  }

  /** The headers every answer carries, then the answer's own. */
  function withCommonHeaders(requestId: string, own: Record<string, string>): [string, string][] {
    return [
      ["x-request-id", requestId],
      ...ANSWER_HEADERS.map(([name, value]): [string, string] => [name, value]),
      ...Object.entries(own),
    ];
  }

  function recordUnmatched(requestId: string, method: string, status: number): void {
    deps.requestLog.record({ requestId, method, route: "unmatched", status, durationMs: 0 });
  }

  /** The problem answer for `error` (an ApiError, or any other error as a 500). */
  function problemAnswer(error: unknown, requestId: string): Answer {
    const problem = answerError(error, requestId);
    return {
      status: problem.status,
      headers: withCommonHeaders(requestId, problem.headers),
      body: problem.body,
    };
  }

  /** The problem answer for `error`, recorded as requests are. */
  function answerFor(error: unknown, method: string, givenRequestId: string | undefined): Answer {
    const requestId = requestIdFor(givenRequestId);
    const answer = problemAnswer(error, requestId);
    recordUnmatched(requestId, method, answer.status);
    return answer;
  }

  /**
   * The 408 for a request that took too long to arrive; recorded unless the connection sent nothing
   * (a browser's preconnect, a TCP health check).
   */
  function timeoutAnswer(bytesRead: number, request: IncomingMessage | undefined): Answer {
    const requestId = requestIdFor(givenRequestId(request));
    const answer = problemAnswer(REQUEST_TIMEOUT, requestId);
    if (bytesRead > 0) recordUnmatched(requestId, request?.method ?? UNPARSED_METHOD, answer.status);
    return answer;
  }

  /**
   * The adapter calls its errorHandler synchronously from the listener when it cannot build the
   * request, so `arriving` (set by `withArriving` around each call) is that request. It also calls it,
   * later, when the app's promise rejects (which the app's own onError leaves to a failure of onError
   * itself): `arriving` is then unset, and that 500 is recorded without the request's id or method.
   */
  let arriving: IncomingMessage | undefined;

  const requestErrorHandler = (error: unknown): Response => {
    // The adapter also hands over an app that failed outside its own error handling: a 500, logged.
    const refusal =
      error instanceof RequestError
        ? new ApiError("BAD_REQUEST", "The request's target or Host header does not form a URL.")
        : error;
    const answer = answerFor(refusal, arriving?.method ?? UNPARSED_METHOD, givenRequestId(arriving));
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  };

  function withArriving<L extends (request: IncomingMessage, ...rest: never[]) => unknown>(listener: L): L {
    return ((request: IncomingMessage, ...rest: never[]) => {
      arriving = request;
      try {
        return listener(request, ...rest);
      } finally {
        arriving = undefined;
      }
    }) as L;
  }

  /**
   * Refuses, in front of `listener`, with a 400 that closes the connection:
   * - a request line that says HTTP/2.0 or 0.9, as node's parser refuses 1.2 (RFC 9110 suggests 505,
   *   a status no contract code has).
   * - a request whose Host header is missing (HTTP/1.1) or sent more than once, as RFC 9112 §3.2 says a
   *   server must. Node keeps the first of two, so a proxy that routed by the other would disagree with
   *   us about the request's target. HTTP/1.0 needs none: HOST stands in (http-server.ts).
   * - a body in a transfer coding other than chunked (`gzip, chunked`): node undoes only the chunking,
   *   and the JSON parser would read compressed bytes (RFC 9112 §6.1 suggests 501; the contract's codes
   *   stop at 400 for a request we cannot read).
   * An HTTP/1.0 request with a Transfer-Encoding is served, and its connection closed after the answer
   * (RFC 9112 §6.1: its framing cannot be trusted for the next request).
   */
  function refusingBadHeaders(listener: NodeListener): NodeListener {
    return (request, response) => {
      const socket = request.socket;
      if (closing.has(socket)) return; // node drops its response when the connection closes
      const refusal = versionRefusal(request) ?? hostRefusal(request) ?? transferCodingRefusal(request);
      if (refusal !== undefined) {
        refuse(request, response, new ApiError("BAD_REQUEST", refusal));
        return;
      }
      if (request.headers.expect !== undefined && awaitingContinue.has(request)) {
        // The client waits to be asked for its body: a body the limit refuses is not asked for.
        if (limitsBody(request) && Number(request.headers["content-length"]) > MAX_BODY_BYTES) {
          refuse(request, response, bodyTooLarge());
          return;
        }
        response.writeContinue();
      }
      if (request.httpVersionMinor === 0 && request.headers["transfer-encoding"] !== undefined) {
        // As node does for a client that asks to close: "connection: close", and the end after it.
        response.shouldKeepAlive = false;
        closing.add(socket);
      }
      return listener(request, response);
    };
  }

  /**
   * Connections whose next answer closes them. A request pipelined behind such an answer is not run:
   * its own answer could never be sent, and a verify would spend a credit nobody can read about.
   */
  const closing = new WeakSet<Duplex>();
  /** Requests with an `Expect: 100-continue` (node's "checkContinue"), not yet asked for their body. */
  const awaitingContinue = new WeakSet<IncomingMessage>();

  /** Answers `request` with the problem for `error`, logged, and closes the connection after it. */
  function refuse(request: IncomingMessage, response: ServerResponse, error: ApiError): void {
    closing.add(request.socket);
    const answer = answerFor(error, request.method ?? UNPARSED_METHOD, givenRequestId(request));
    request.resume(); // a body is read and dropped, so that the client sees the answer
    response.writeHead(answer.status, [
      ...answer.headers.flat(),
      "content-length",
      String(Buffer.byteLength(answer.body)),
      "connection",
      "close",
    ]);
    response.end(answer.body);
  }

  /**
   * Hands an `Expect: 100-continue` (node's "checkContinue") to the request listeners, where
   * refusingBadHeaders checks it as any other request, then answers 413 instead of 100 Continue to a
   * body over the limit, or asks for it. Without a listener node asks for every body, and the 413
   * came after up to 16 MiB.
   */
  function answerContinue(server: Server): void {
    server.on("checkContinue", (request: IncomingMessage, response: ServerResponse) => {
      awaitingContinue.add(request);
      server.emit("request", request, response);
    });
  }

  function answerClientErrors(server: Server): void {
    const refused = new WeakSet<Duplex>();
    server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
      // Node keeps feeding the parser what the client still sends, and reports each failure again.
      if (refused.has(socket)) return;
      refused.add(socket);
      // A client that hung up, mid-request or not, reads no answer: nothing to answer or record.
      if (error.code === "ECONNRESET" || error.code === "HPE_INVALID_EOF_STATE") {
        socket.destroy();
        return;
      }
      const bytesRead = (socket as Socket).bytesRead;
      afterPendingAnswers(socket, (unfinished) =>
        closeWith(socket, () => rawAnswer(error, bytesRead, unfinished)),
      );
    });
  }

  /**
   * Answers a CONNECT 404, as any other method no route serves: KeyMint is no proxy. Node hands a
   * CONNECT to a "connect" listener, and without one closes the connection with no answer at all.
   */
  function answerConnect(server: Server): void {
    server.on("connect", (request: IncomingMessage, socket: Duplex) => {
      // Node took its own error listener off the socket when it handed it over: a client's reset
      // would otherwise be an uncaught error, and end the process.
      socket.on("error", () => socket.destroy());
      // Its Host header is checked as every other request's is (refusingBadHeaders), first.
      const hostProblem = hostRefusal(request);
      const refusal =
        hostProblem === undefined
          ? new ApiError("NOT_FOUND", "No such route.")
          : new ApiError("BAD_REQUEST", hostProblem);
      // Answered, and logged, only if the connection is still open when its turn comes; behind an
      // answer that closes it (a refusal), never.
      afterPendingAnswers(socket, () =>
        closeWith(socket, () =>
          closing.has(socket)
            ? ""
            : rawBytes(answerFor(refusal, request.method ?? "CONNECT", givenRequestId(request))),
        ),
      );
    });
  }

  /**
   * Writes `answer()` and closes the connection with a lingering close: the answer and a FIN now, the
   * socket destroyed a moment later. Destroyed at once (as node does) with the client's bytes still
   * unread, the kernel resets the connection, and a client may drop the answer; ended alone, it stays
   * half-open as long as the client keeps its side.
   */
  function closeWith(socket: Duplex, answer: () => string): void {
    // Not writable: ended already (by node, after an answer that closes the connection), and the same
    // linger holds, since the client's bytes after it may still be unread.
    if (socket.writable) socket.end(answer());
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }

  /**
   * Runs `then` once the answers to the requests the client sent before the bad bytes are written:
   * answers go in the order of their requests (RFC 9112 §9.3.2), and a pipelined request served (a
   * verify that spent a credit) must not have its answer replaced by the refusal of the next one.
   * When the request whose answer is pending is itself what failed (malformed chunks, a body that
   * stopped coming), it will never be answered otherwise: `then` runs at once and answers it, given
   * that request; or, when part of its answer is already written, the connection is dropped.
   */
  function afterPendingAnswers(socket: Duplex, then: (unfinished?: IncomingMessage) => void): void {
    // Node's own: the response the connection is writing (the next queued one takes its place when
    // it finishes, before its "close"), and the newest request its parser read.
    const { _httpMessage: pending, parser } = socket as NodeSocket;
    if (!pending) {
      // Nothing pending, but the newest request is unfinished: it was answered before its body
      // failed (a 401 or 404 needs no body). One answer, one log line: the connection just closes.
      if (parser?.incoming?.complete === false) closeWith(socket, () => "");
      else then();
    } else if (pending.req.complete) {
      pending.once("close", () => afterPendingAnswers(socket, then));
    } else if (pending.headersSent) {
      // Its answer is under way: let it go out whole (an answer given before the body, such as a
      // 401), then close; an answer its handler has not finished is dropped with the connection.
      if (pending.writableEnded) pending.once("close", () => closeWith(socket, () => ""));
      else socket.destroy();
    } else {
      markAnsweredByRefusal(pending.req);
      then(pending.req);
    }
  }

  /** The bytes of the answer to a request node could not parse. */
  function rawAnswer(error: NodeJS.ErrnoException, bytesRead: number, request?: IncomingMessage): string {
    if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") return rawBytes(timeoutAnswer(bytesRead, request));
    const refusal = error.code === "HPE_HEADER_OVERFLOW" ? HEADERS_TOO_LARGE : NOT_HTTP;
    return rawBytes(answerFor(refusal, request?.method ?? UNPARSED_METHOD, givenRequestId(request)));
  }

  /** An answer as the bytes of an HTTP/1.1 response that closes its connection. */
  function rawBytes(answer: Answer): string {
    const head = answer.headers.map(([name, value]) => `${name}: ${value}\r\n`).join("");
    return (
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\n${head}` +
      `content-length: ${Buffer.byteLength(answer.body)}\r\nconnection: close\r\n\r\n${answer.body}`
    );
  }

  return {
    requestErrorHandler,
    withArriving,
    answerClientErrors,
    answerConnect,
    answerContinue,
    refusingBadHeaders,
  };
}

/**
 * Why the request's HTTP version is refused, or undefined when it is 1.0 or 1.1. Node's parser refuses
 * HTTP/1.2 or 3.1 itself (400), but serves a request line that says HTTP/2.0 or 0.9 as if it were 1.x.
 */
function versionRefusal(request: IncomingMessage): string | undefined {
  if (request.httpVersionMajor === 1 && request.httpVersionMinor <= 1) return undefined;
  return "The request is not valid HTTP/1.1.";
}

/**
 * Whether the body limit (mounted on `/v1/*` in app.ts) applies to `request`: its path read as Hono
 * reads it, so `/v1?x=1` and the absolute form `http://host/v1/keys` count too.
 */
function limitsBody(request: IncomingMessage): boolean {
  if (!readsBody(request.method)) return false;
  const path = URL.parse(request.url ?? "/", "http://target.invalid")?.pathname ?? "";
  return path === "/v1" || path.startsWith("/v1/");
}

/** Why the request's Host header is refused, or undefined when it is not. */
function hostRefusal(request: IncomingMessage): string | undefined {
  if (request.headers.host === undefined) {
    const needsHost = request.httpVersionMajor === 1 && request.httpVersionMinor >= 1;
    return needsHost ? "An HTTP/1.1 request must send a Host header." : undefined;
  }
  let hosts = 0;
  const raw = request.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === "host") hosts++;
  }
  return hosts > 1 ? "A request must send one Host header, not several." : undefined;
}

/** Why the request's transfer coding is refused, or undefined when it is not (node refuses the rest). */
function transferCodingRefusal(request: IncomingMessage): string | undefined {
  const codings = request.headers["transfer-encoding"];
  if (codings === undefined || codings.toLowerCase() === "chunked") return undefined;
  return "A request body may be sent in the chunked transfer coding alone.";
}
