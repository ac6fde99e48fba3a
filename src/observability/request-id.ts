import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Config } from "../config.js";
import { holdsKey } from "../keys/format.js";
import { configuredTokens, holdsDigest, holdsToken } from "./logger.js";

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The id a request is answered and logged under: the client's own `x-request-id` when it is sane
 * (contract: at most 128 chars of `[A-Za-z0-9._:-]`), else a fresh UUID. A request id is repeated in
 * headers, problem bodies, audit events and log lines, so one that holds a key, a hash or one of this
 * deployment's tokens anywhere in it is replaced too: "no secret in any response" wins over "echo the
 * client's id". A key is one with a valid checksum: `order_` and 50 letters and digits is echoed, as
 * any sane id, since a string that fails the checksum is no key (contract §1).
 */
export function requestIdPolicy(
  config: Pick<Config, "KEYMINT_ADMIN_TOKEN" | "KEYMINT_METRICS_TOKEN">,
): (given: string | undefined) => string {
  const tokens = configuredTokens(config);
  const mayEcho = (id: string) =>
    SANE_REQUEST_ID.test(id) && !holdsKey(id) && !holdsDigest(id) && !holdsToken(id, tokens);
  return (given) => (given !== undefined && mayEcho(given) ? given : randomUUID());
}

/** The `x-request-id` a request arriving on node's server sent, before the policy above decides on it. */
export function givenRequestId(request: IncomingMessage | undefined): string | undefined {
  const given = request?.headers["x-request-id"];
  return typeof given === "string" ? given : undefined;
}
