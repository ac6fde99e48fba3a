import { isIP } from "node:net";
import type { Context, MiddlewareHandler } from "hono";
import { type AppEnv, clientHungUp } from "../context.js";
import type { AppDeps } from "../deps.js";
import { matchedRoute } from "../lib/openapi.js";
import { answeredByRefusal } from "../observability/answered-by-refusal.js";
import { requestIdPolicy } from "../observability/request-id.js";
import { CLIENT_CLOSED_REQUEST } from "./errors.js";

/**
 * First middleware of every request: gives it a request id (the client's own when sane), finds the
 * client's address, and afterwards writes one log line and the HTTP metrics. Labels use the matched
 * route template, never the raw path, so their values stay bounded.
 */
export function observeRequests(deps: AppDeps): MiddlewareHandler<AppEnv> {
  const trustProxy = deps.config.KEYMINT_TRUST_PROXY;
  const requestIdFor = requestIdPolicy(deps.config);
  return async (c, next) => {
    const started = performance.now();
    const requestId = requestIdFor(c.req.header("x-request-id"));
    c.set("requestId", requestId);
    c.set("clientIp", clientIp(c, trustProxy));
    // On Node, straight onto the ServerResponse (see security-headers.ts for why).
    const outgoing = c.env?.outgoing;
    outgoing?.setHeader("x-request-id", requestId);
    await next();
    if (outgoing === undefined) c.res.headers.set("x-request-id", requestId);
    if (answeredByRefusal(c.env?.incoming)) return; // logged with the answer its client got
    deps.requestLog.record({
      requestId,
      method: c.req.method,
      // The route template ("/v1/keys/:id"), also for an answer a middleware gave before the route ran.
      route: matchedRoute(c)?.path ?? "unmatched",
      // A client that hung up while the request was handled never gets the answer: recorded as such.
      status: clientHungUp(c) ? CLIENT_CLOSED_REQUEST : c.res.status,
      durationMs: performance.now() - started,
    });
  };
}

function clientIp(c: Context<AppEnv>, trustProxy: boolean): string | null {
  if (trustProxy) {
    const forwarded = addressIn(c.req.header("x-forwarded-for")?.split(",")[0]?.trim() ?? "");
    if (forwarded !== undefined) return forwarded;
  }
  return c.env?.incoming?.socket.remoteAddress ?? null;
}

// Some load balancers add the client's port: "203.0.113.9:4711", "[2001:db8::1]:4711".
const WITH_PORT = /^(?:\[([^\]]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):\d{1,5}$/;
const MAX_ADDRESS_LENGTH = 45; // the longest IPv6 text, an IPv4 tail included

/**
 * The IPv4 or IPv6 address in an x-forwarded-for entry, without a port; undefined for anything else.
 * Whatever else a misconfigured proxy passed on is the client's own text, and would be stored in audit
 * events (a key pasted there, say) and used as a throttle's key. An IPv6 zone (`%eth0`) is refused too:
 * it is free text of any length, and means nothing off the proxy's host.
 */
function addressIn(entry: string): string | undefined {
  const withPort = WITH_PORT.exec(entry);
  const address = withPort ? (withPort[1] ?? withPort[2] ?? "") : entry;
  const plain = address.length <= MAX_ADDRESS_LENGTH && !address.includes("%");
  return plain && isIP(address) !== 0 ? address : undefined;
}
