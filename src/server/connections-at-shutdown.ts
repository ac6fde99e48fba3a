import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";

/**
 * The server's connections at a shutdown.
 *
 * `start()` has each kept-alive connection closed after the answer to its newest request, instead of
 * staying open and holding server.close() back. After the newest alone: answers to pipelined requests
 * go out in order, and an earlier answer that closed the connection would lose the ones queued behind
 * it. The newest is told with `connection: close`, or, when its headers are already written (answered
 * but queued behind a slower one, or before its body came), its connection is closed once it has gone
 * out and the body is read: destroySoon, as node closes a connection after an answer that says
 * `connection: close`, so that a request the client sends after it is not run.
 *
 * `closeAll()`, at the shutdown's deadline, destroys every connection, the ones node no longer tracks
 * included: a CONNECT's, handed to the "connect" listener while it waits to answer in turn.
 */
export function connectionsAtShutdown(server: Server): {
  start(): void;
  closeAll(): void;
  /** How many connections it holds a response of: the open ones that sent a request. */
  tracked(): number;
} {
  const newestOfConnection = new Map<Socket, ServerResponse>();
  const handedOver = new Set<Duplex>();
  // The responses told to close their connection by start(), which a newer request takes it from.
  const closedByUs = new WeakSet<ServerResponse>();
  let stopping = false;

  /** Tells `response` to close its connection; false when its headers are already written. */
  const closeAfter = (response: ServerResponse): boolean => {
    if (response.headersSent) return false;
    if (!response.shouldKeepAlive) return true; // it closes its connection anyway
    response.setHeader("connection", "close");
    closedByUs.add(response);
    return true;
  };

  /** Takes back a close start() gave `response`, when a newer request came on its connection. */
  const keepOpen = (response: ServerResponse) => {
    if (closedByUs.has(response) && !response.headersSent) response.removeHeader("connection");
  };

  /** Runs `then` once `response` has gone out and its request's body has all been read. */
  const afterAnswerAndBody = (response: ServerResponse, then: () => void) => {
    const bodyRead = () => (response.req.complete ? then() : response.req.once("end", then));
    if (response.writableFinished) bodyRead();
    else response.once("finish", bodyRead);
  };

  server.on("connection", (socket: Socket) => {
    socket.once("close", () => newestOfConnection.delete(socket));
  });
  server.on("connect", (request: IncomingMessage, socket: Duplex) => {
    handedOver.add(socket);
    socket.once("close", () => handedOver.delete(socket));
    // The CONNECT is the connection's newest request now, and its answer (unparsable-requests.ts)
    // closes the connection: no earlier answer may close it first.
    const previous = newestOfConnection.get(request.socket);
    newestOfConnection.delete(request.socket);
    if (previous !== undefined) keepOpen(previous);
  });
  // In front of the app's listener, which may answer before returning (a request refused at once):
  // a header set after that would throw.
  server.prependListener("request", (request: IncomingMessage, response: ServerResponse) => {
    const connection = request.socket;
    const previous = newestOfConnection.get(connection);
    newestOfConnection.set(connection, response);
    if (!stopping) return;
    // A request on a kept-alive connection after the signal: it is the newest now.
    if (previous !== undefined) keepOpen(previous);
    closeAfter(response);
  });

  return {
    start() {
      stopping = true;
      for (const [connection, response] of newestOfConnection) {
        if (closeAfter(response)) continue;
        // Its answer is written (maybe queued behind a slower one, maybe before its body has all
        // come): the connection closes once both are through, unless a newer request came meanwhile.
        afterAnswerAndBody(response, () => {
          if (newestOfConnection.get(connection) === response) connection.destroySoon();
        });
      }
    },
    closeAll() {
      server.closeAllConnections();
      for (const socket of handedOver) socket.destroy();
    },
    tracked: () => newestOfConnection.size,
  };
}
