import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createHttpServer } from "../../src/server/http-server.js";
import type { TestApp } from "../helpers.js";

/** `server` listening on a free port of 127.0.0.1. */
export async function listenOnLoopback(server: Server): Promise<Server> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

/** Stops `server` listening; resolves once every connection has ended. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

export interface LoopbackServer {
  server: Server;
  port: number;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** Stops listening and resolves once every connection has ended. */
  close(): Promise<void>;
}

/** The server production runs for `t` (verify's fast path in front of the app), on a loopback port. */
export async function serveOnLoopback(t: TestApp): Promise<LoopbackServer> {
  const server = await listenOnLoopback(createHttpServer(t.app, t.deps, "127.0.0.1"));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    base: `http://127.0.0.1:${port}`,
    close: () => closeServer(server),
  };
}
