import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "../context.js";
import { isStorageFailure } from "../db/storage-failure.js";
import type { AppDeps } from "../deps.js";
import { ClientGone } from "../keys/argon2-queue.js";
import { ApiError, type ErrorCode, problemOf } from "../lib/errors.js";
import { routedMethods } from "../lib/routed-methods.js";
import { scrubSecrets, secretScrubber } from "../observability/logger.js";

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  429: "RATE_LIMITED",
  503: "UNAVAILABLE",
};

/** A problem+json answer, ready to send by Hono or straight on a Node response. */
export interface ProblemAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

// Every 401 names the scheme it wants (RFC 9110 §11.6.1): root keys and the admin and metrics tokens
// are all sent as Bearer.
const BEARER_CHALLENGE = { "www-authenticate": 'Bearer realm="keymint"' };

function problemAnswer(error: ApiError, requestId: string, scrub: (text: string) => string): ProblemAnswer {
  const problem = problemOf(error, requestId);
  problem.detail = scrub(problem.detail);
  if (problem.errors) {
    problem.errors = problem.errors.map((entry) => ({
      path: scrub(entry.path),
      message: scrub(entry.message),
    }));
  }
  return {
    status: error.status,
    headers: {
      "content-type": "application/problem+json",
      ...(error.status === 401 && BEARER_CHALLENGE),
      ...error.headers,
    },
    body: JSON.stringify(problem),
  };
}

function send(c: Context<AppEnv>, answer: ProblemAnswer): Response {
  return c.body(answer.body, answer.status as 400, answer.headers);
}

function problemResponse(c: Context<AppEnv>, error: ApiError): Response {
  return send(c, problemAnswer(error, c.get("requestId") ?? "", scrubSecrets));
}

/**
 * The one mapping of a failure to its answer: every failure becomes problem+json; a 500 never shows
 * a stack, SQL or a key, and no problem body or error log line repeats a key, a hash or a token,
 * whoever put it there.
 */
export function errorAnswers(deps: Pick<AppDeps, "config" | "logger">) {
  const scrub = secretScrubber(deps.config);
  return (error: unknown, requestId: string): ProblemAnswer => {
    if (error instanceof ApiError) return problemAnswer(error, requestId, scrub);
    if (error instanceof HTTPException && CODE_BY_STATUS[error.status]) {
      const code = CODE_BY_STATUS[error.status] as ErrorCode;
      const detail =
        code === "BAD_REQUEST"
          ? "The request body is not valid JSON."
          : code === "UNSUPPORTED_MEDIA_TYPE"
            ? "Send the request body as application/json."
            : error.message;
      return problemAnswer(new ApiError(code, detail), requestId, scrub);
    }
    // The client went away while its request was being read: nothing can be answered, and it is not
    // the server's failure (it would set off the 5xx alert). Recorded as nginx records it.
    if (isClientAbort(error)) return CLIENT_CLOSED;
    if (isBusy(error)) {
      const busy = new ApiError("UNAVAILABLE", "The database is busy; try again.", undefined, {
        "retry-after": "1",
      });
      return problemAnswer(busy, requestId, scrub);
    }
    const failure = error instanceof Error ? error : new Error(String(error));
    deps.logger.error(
      {
        requestId,
        err: { type: failure.name, message: scrub(failure.message), stack: scrub(failure.stack ?? "") },
      },
      "request failed",
    );
    // A full disk, an I/O error, a read-only or damaged file: the request wrote nothing and may succeed
    // once the operator has seen to the storage, as /readyz (503 meanwhile) will tell. Not a bug: 503.
    if (isStorageFailure(error)) {
      const detail =
        "The database is not usable now (full disk, I/O error, read-only or damaged file); nothing was written.";
      return problemAnswer(
        new ApiError("UNAVAILABLE", detail, undefined, { "retry-after": "10" }),
        requestId,
        scrub,
      );
    }
    return problemAnswer(new ApiError("INTERNAL", "An unexpected error occurred."), requestId, scrub);
  };
}

/** Hono's onError: the answer errorAnswers gives. */
export function handleErrors(deps: AppDeps): ErrorHandler<AppEnv> {
  const answerFor = errorAnswers(deps);
  return (error, c) => send(c, answerFor(error, c.get("requestId") ?? ""));
}

/** The status recorded for a request whose client closed the connection before the answer (nginx's 499). */
export const CLIENT_CLOSED_REQUEST = 499;
const CLIENT_CLOSED: ProblemAnswer = { status: CLIENT_CLOSED_REQUEST, headers: {}, body: "" };

/**
 * A hang-up: node's error for a request whose connection was reset while its body was read (KeyMint
 * opens no other connections), or argon2 work dropped because its client had gone.
 */
function isClientAbort(error: unknown): boolean {
  if (error instanceof ClientGone) return true;
  return error instanceof Error && "code" in error && error.code === "ECONNRESET";
}

function isBusy(error: unknown): boolean {
  return (
    error instanceof Error &&
    "code" in error &&
    typeof error.code === "string" &&
    error.code.startsWith("SQLITE_BUSY")
  );
}

/**
 * Hono's notFound: 404 NOT_FOUND for every request no route takes, as the contract has it (a request
 * to a route §4 does not list is an unknown route; no code of §6 is a 405). When the path is routed
 * for other methods, the answer names them, in its detail and in Allow (RFC 9110 §10.2.1 lets any
 * answer carry it). Under /v1 this runs after authentication, so only a caller holding a valid root
 * key (on /v1/admin, the admin token) learns the routes.
 */
export function handleUnrouted(app: Parameters<typeof routedMethods>[0]): NotFoundHandler<AppEnv> {
  const methodsFor = routedMethods(app);
  return (c) => {
    const allowed = methodsFor(c.req.path).join(", ");
    if (allowed === "") return problemResponse(c, new ApiError("NOT_FOUND", "No such route."));
    const detail = `No route takes ${c.req.method} here; this path takes ${allowed}.`;
    return problemResponse(c, new ApiError("NOT_FOUND", detail, undefined, { allow: allowed }));
  };
}
