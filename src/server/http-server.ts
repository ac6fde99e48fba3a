import { createServer, type Server } from "node:http";
import { isIPv6 } from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { App } from "../app.js";
import type { AppDeps } from "../deps.js";
import { verifyFastPath } from "./verify-fast-path.js";

/** The Node HTTP server KeyMint runs: verify's fast path in front of the Hono app. Not yet listening. */
export function createHttpServer(app: App, deps: AppDeps, hostname?: string): Server {
  return createServer(verifyFastPath(deps, getRequestListener(app.fetch, { hostname })));
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
      const address = isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
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
