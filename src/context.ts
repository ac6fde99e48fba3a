import type { HttpBindings } from "@hono/node-server";
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
