import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/**
 * Keep-alive connections closed at a shutdown: each after the answer to its newest request, which
 * would otherwise stay open after its answer and hold server.close() back. After the newest alone:
 * answers to pipelined requests go out in order, and an earlier answer that closed the connection
 * would lose the ones queued behind it.
 */
export function closeOnShutdown(server: Server): { start(): void } {
  const newestOfConnection = new Map<Socket, ServerResponse>();
  const closedByUs = new WeakSet<ServerResponse>();
  let stopping = false;

  const closeAfter = (response: ServerResponse) => {
    if (response.headersSent) return;
    response.setHeader("connection", "close");
    closedByUs.add(response);
  };

  // In front of the app's listener, which may answer before returning (a request refused at once):
  // a header set after that would throw.
  server.prependListener("request", (request: IncomingMessage, response: ServerResponse) => {
    const connection = request.socket;
    const previous = newestOfConnection.get(connection);
    newestOfConnection.set(connection, response);
    response.once("close", () => {
      if (newestOfConnection.get(connection) === response) newestOfConnection.delete(connection);
    });
    if (!stopping) return;
    // A request on a kept-alive connection after the signal: it is the newest now.
    if (previous !== undefined && !previous.headersSent && closedByUs.has(previous)) {
      previous.removeHeader("connection");
    }
    closeAfter(response);
  });

  return {
    start() {
      stopping = true;
      for (const response of newestOfConnection.values()) closeAfter(response);
    },
  };
}
