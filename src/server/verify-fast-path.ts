import type { IncomingMessage, ServerResponse } from "node:http";
import { bearerToken } from "../auth/bearer.js";
import type { Caller } from "../auth/caller.js";
import { grants } from "../auth/permissions.js";
import { cachedCaller } from "../auth/root-key-auth.js";
import type { AppDeps } from "../deps.js";
import { MAX_BODY_BYTES } from "../middleware/body-limit.js";
import { corsHeadersWithoutOrigin } from "../middleware/cors.js";
import { CLIENT_CLOSED_REQUEST, errorAnswers } from "../middleware/errors.js";
import { isJsonRequestType, jsonBodyRefusal } from "../middleware/json-body.js";
import { ANSWER_HEADERS } from "../middleware/security-headers.js";
import { answeredByRefusal } from "../observability/answered-by-refusal.js";
import { givenRequestId, requestIdPolicy } from "../observability/request-id.js";
import { VerifyBody } from "../routes/keys/keys.routes.js";
import { verifyAndCount } from "../services/verify-and-count.js";
import type { VerifyRequest } from "../verify/verify.js";

export type NodeListener = (request: IncomingMessage, response: ServerResponse) => unknown;

const VERIFY_PATH = "/v1/keys/verify";
const FIXED_HEADERS = ANSWER_HEADERS.flat();

/**
 * POST /v1/keys/verify, the one call every product backend makes on every request it serves, answered
 * straight on node:http instead of through the Hono app's adapter and middleware chain, which cost
 * more than the verify itself (README, Performance).
 *
 * It takes only the everyday request, and only when it can tell from the headers alone: no query, a
 * JSON content type the route takes, no content coding, a declared length within the body limit, no header sent twice, no CORS origin to
 * answer, and a root key the cache already holds that grants keys:verify. Everything else goes to
 * `fallback` (the Hono app) untouched. A body the JSON guard would refuse, or that does not parse or
 * validate, goes to the app too, with the bytes already read, so every error answer comes from the one
 * implementation of it. What it does run is the app's own: the same zod schema, verifyKey, request id
 * rule, headers, error mapping, log line and metrics.
 */
export function verifyFastPath(deps: AppDeps, fallback: NodeListener): NodeListener {
  const requestIdFor = requestIdPolicy(deps.config);
  const requestIdOf = (request: IncomingMessage) => requestIdFor(givenRequestId(request));
  const answerError = errorAnswers(deps);
  const corsEnabled = deps.config.KEYMINT_CORS_ORIGINS.length > 0;
  const fixedHeaders = [...FIXED_HEADERS, ...corsHeadersWithoutOrigin(deps.config.KEYMINT_CORS_ORIGINS)];

  function everydayCaller(request: IncomingMessage): Caller | undefined {
    const headers = request.headers;
    // A repeated header is read one way by node (first wins) and another by the app (joined): let the app decide.
    if (request.rawHeaders.length !== 2 * Object.keys(headers).length) return undefined;
    if (corsEnabled && headers.origin !== undefined) return undefined;
    if (headers["transfer-encoding"] !== undefined || headers["content-encoding"] !== undefined)
      return undefined;
    const length = headers["content-length"];
    if (length === undefined || !(Number(length) <= MAX_BODY_BYTES)) return undefined;
    const type = headers["content-type"];
    if (type === undefined || !isJsonRequestType(type)) return undefined;
    const token = bearerToken(headers.authorization);
    if (token === undefined) return undefined;
    const caller = cachedCaller(deps, token);
    return caller && grants(caller.permissions, "keys:verify") ? caller : undefined;
  }

  async function answer(
    request: IncomingMessage,
    response: ServerResponse,
    caller: Caller,
    body: VerifyRequest,
    started: number,
  ): Promise<void> {
    const requestId = requestIdOf(request);
    let status = 200;
    let contentType = "application/json";
    let payload: string;
    let extraHeaders: Record<string, string> | undefined;
    try {
      deps.usage.recordRootKeyUse(caller.id, deps.clock.now());
      payload = JSON.stringify(await verifyAndCount(deps, caller, body));
    } catch (error) {
      const problem = answerError(error, requestId);
      ({ status, body: payload } = problem);
      ({ "content-type": contentType = "application/problem+json", ...extraHeaders } = problem.headers);
    }
    const headers = ["x-request-id", requestId, ...fixedHeaders, "content-type", contentType];
    if (extraHeaders) for (const [name, value] of Object.entries(extraHeaders)) headers.push(name, value);
    headers.push("content-length", String(Buffer.byteLength(payload)));
    // A client that hung up while the verify ran never gets the answer: recorded as such.
    const answered = request.socket.destroyed ? CLIENT_CLOSED_REQUEST : status;
    response.writeHead(status, headers);
    response.end(payload);
    deps.requestLog.record({
      requestId,
      method: "POST",
      route: VERIFY_PATH,
      status: answered,
      durationMs: performance.now() - started,
    });
  }

  return (request, response) => {
    if (request.method !== "POST" || request.url !== VERIFY_PATH) return fallback(request, response);
    const started = performance.now();
    const caller = everydayCaller(request);
    if (caller === undefined) return fallback(request, response);
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("error", () => {
      // The client went away mid-body: nothing to answer; recorded as the app records it (errors.ts).
      response.destroy();
      if (answeredByRefusal(request)) return; // logged with the answer its client got
      deps.requestLog.record({
        requestId: requestIdOf(request),
        method: "POST",
        route: VERIFY_PATH,
        status: CLIENT_CLOSED_REQUEST,
        durationMs: performance.now() - started,
      });
    });
    request.on("end", () => {
      const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      const body = everydayBody(bytes);
      if (body === undefined) {
        // @hono/node-server reads a body already consumed from `rawBody` (as on Cloud Functions).
        (request as IncomingMessage & { rawBody?: Buffer }).rawBody = bytes;
        return fallback(request, response);
      }
      // answer() turns every failure of the verify into a problem; one left would be of the socket.
      answer(request, response, caller, body, started).catch(() => response.destroy());
    });
  };
}

/** The verify request in a body the app would accept as it is; undefined when the app must answer. */
function everydayBody(bytes: Buffer): VerifyRequest | undefined {
  if (jsonBodyRefusal(bytes) !== undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
  const parsed = VerifyBody.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
