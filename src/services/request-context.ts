import type { Caller } from "../auth/caller.js";
import type { Origin } from "./audit.js";

/** A service call's context: who asks (and may see what), and where audit events say it came from. */
export interface ServiceContext {
  caller: Caller;
  origin: Origin;
}
