import type { Caller } from "../auth/caller.js";
import type { Origin } from "./audit.js";

/** A service call's context: who asks (and may see what), where audit events say it came from, and whether the asker is still there. */
export interface ServiceContext {
  caller: Caller;
  origin: Origin;
  /** Whether the client has hung up: argon2 work not yet used for it is dropped (see Argon2Queue.run). */
  clientGone?: () => boolean;
}
