import { createServer, type Server } from "node:http";
import { isIPv6 } from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { App } from "../app.js";
import type { AppDeps } from "../deps.js";
import { unparsableRequests } from "./unparsable-requests.js";
import { verifyFastPath } from "./verify-fast-path.js";

/**
 * The Node HTTP server KeyMint runs: verify's fast path in front of the Hono app. Not yet listening.
 * `host` (HOST) makes the URL of a request that sends no Host header (HTTP/1.0).
 */
export function createHttpServer(app: App, deps: AppDeps, host?: string): Server {
  const hostname = host === undefined ? undefined : inUrl(host);
  const unparsable = unparsableRequests(deps);
  const appListener = getRequestListener(app.fetch, {
    hostname,
    errorHandler: unparsable.requestErrorHandler,
  });
  const listener = unparsable.refusingBadHeaders(verifyFastPath(deps, unparsable.withArriving(appListener)));
  // Node's own Host check would answer a bare 400, without a request id or a problem: refusingBadHeaders
  // answers instead.
  const server = createServer({ requireHostHeader: false }, listener);
  unparsable.answerClientErrors(server);
  unparsable.answerConnect(server);
  // An expectation other than 100-continue would get node's bare 417. RFC 9110 §10.1.1 lets a server
  // ignore it: such a request is served as a request without one, by every "request" listener.
  server.on("checkExpectation", (request, response) => server.emit("request", request, response));
  unparsable.answerContinue(server);
  return server;
}

/** A host as it stands in a URL or an address: an IPv6 one in brackets. */
function inUrl(host: string): string {
  return isIPv6(host) ? `[${host}]` : host;
}

const LISTEN_FAILURES: Record<string, string> = {
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "no such address on this machine",
  EAFNOSUPPORT: "address family not supported",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed",
};

/**
 * Starts listening; when the server cannot, rejects with one line that names the address and the
 * reason, instead of the unhandled 'error' event (and its stack trace) a bare listen() ends in.
 */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      const address = `${inUrl(host)}:${port}`;
      reject(new Error(`cannot listen on ${address} (${listenFailure(error, port)}); set PORT or HOST`));
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

function listenFailure(error: NodeJS.ErrnoException, port: number): string {
  if (error.code === "EACCES") {
    return port < 1024 ? "permission denied: ports below 1024 need privileges" : "permission denied";
  }
  return (error.code !== undefined && LISTEN_FAILURES[error.code]) || error.message;
}
