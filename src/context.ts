import type { HttpBindings } from "@hono/node-server";
import type { Context } from "hono";
import type { Caller } from "./auth/caller.js";

/** What middleware puts on each request's context. */
export type AppEnv = {
  Bindings: Partial<HttpBindings>;
  Variables: {
    requestId: string;
    /** The client's address (x-forwarded-for only when KEYMINT_TRUST_PROXY is on); null when unknown. */
    clientIp: string | null;
    caller: Caller;
  };
};

/**
 * Whether the client closed its connection before its answer. Read from the socket rather than the
 * request's abort signal: reading the signal makes @hono/node-server build an AbortController for the
 * request, which it otherwise never does. Never true without Node's request (`app.request()`).
 */
export function clientHungUp(c: Context<AppEnv>): boolean {
  return c.env?.incoming?.socket?.destroyed === true;
}
