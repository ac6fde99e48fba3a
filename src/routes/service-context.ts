import type { Context } from "hono";
import { type AppEnv, clientHungUp } from "../context.js";
import type { ServiceContext } from "../services/request-context.js";

/** The authenticated caller, the audit origin of this request and whether its client is gone, as services take them. */
export function serviceContext(c: Context<AppEnv>): ServiceContext {
  const caller = c.get("caller");
  return {
    caller,
    origin: {
      actorType: "root_key",
      actorId: caller.id,
      requestId: c.get("requestId"),
      ip: c.get("clientIp"),
    },
    clientGone: () => clientHungUp(c),
  };
}
