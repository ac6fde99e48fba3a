import { createServer, type Server } from "node:http";
import { getRequestListener } from "@hono/node-server";
import type { App } from "../app.js";
import type { AppDeps } from "../deps.js";
import { verifyFastPath } from "./verify-fast-path.js";

/** The Node HTTP server KeyMint runs: verify's fast path in front of the Hono app. Not yet listening. */
export function createHttpServer(app: App, deps: AppDeps, hostname?: string): Server {
  return createServer(verifyFastPath(deps, getRequestListener(app.fetch, { hostname })));
}
