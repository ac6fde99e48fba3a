import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Config } from "../config.js";
import type { AppEnv } from "../context.js";
import type { AppDeps } from "../deps.js";
import { SECRET_SCANNER_REGEX } from "../keys/format.js";
import { ApiError, type ErrorCode, problemOf } from "../lib/errors.js";
import { scrubSecrets } from "../observability/logger.js";

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

// Anything shaped like a key or a hex digest, even run into other characters: a problem body may
// repeat what the client sent (an unknown field's name), and must not repeat a secret.
const KEY_INSIDE = new RegExp(SECRET_SCANNER_REGEX.source.replaceAll("\\b", ""), "g");
const HEX_INSIDE = /[0-9a-f]{64}/g;

/** Removes keys, hash shapes and this deployment's tokens from text a client may see or a log keeps. */
export function secretScrubber(config: Pick<Config, "KEYMINT_ADMIN_TOKEN" | "KEYMINT_METRICS_TOKEN">) {
  const tokens = [config.KEYMINT_ADMIN_TOKEN, config.KEYMINT_METRICS_TOKEN].filter(
    (token): token is string => token !== undefined,
  );
  return (text: string): string => {
    let clean = scrubSecrets(text)
      .replace(KEY_INSIDE, "[redacted key]")
      .replace(HEX_INSIDE, "[redacted hash]");
    for (const token of tokens) clean = clean.replaceAll(token, "[redacted token]");
    return clean;
  };
}

export function problemResponse(
  c: Context<AppEnv>,
  error: ApiError,
  scrub: (text: string) => string = scrubSecrets,
): Response {
  const problem = problemOf(error, c.get("requestId") ?? "");
  problem.detail = scrub(problem.detail);
  if (problem.errors) {
    problem.errors = problem.errors.map((entry) => ({
      path: scrub(entry.path),
      message: scrub(entry.message),
    }));
  }
  return c.body(JSON.stringify(problem), error.status as 400, {
    "content-type": "application/problem+json",
    ...error.headers,
  });
}

/**
 * The one error handler: every failure becomes problem+json; a 500 never shows a stack, SQL or a key,
 * and no problem body or error log line repeats a key, a hash or a token, whoever put it there.
 */
export function handleErrors(deps: AppDeps): ErrorHandler<AppEnv> {
  const scrub = secretScrubber(deps.config);
  return (error, c) => {
    if (error instanceof ApiError) return problemResponse(c, error, scrub);
    if (error instanceof HTTPException && CODE_BY_STATUS[error.status]) {
      const code = CODE_BY_STATUS[error.status] as ErrorCode;
      const detail =
        code === "BAD_REQUEST"
          ? "The request body is not valid JSON."
          : code === "UNSUPPORTED_MEDIA_TYPE"
            ? "Send the request body as application/json."
            : error.message;
      return problemResponse(c, new ApiError(code, detail), scrub);
    }
    if (isBusy(error)) {
      return problemResponse(
        c,
        new ApiError("UNAVAILABLE", "The database is busy; try again.", undefined, { "retry-after": "1" }),
        scrub,
      );
    }
    deps.logger.error(
      {
        requestId: c.get("requestId"),
        err: {
          type: error.name,
          message: scrub(error.message),
          stack: scrub(error.stack ?? ""),
        },
      },
      "request failed",
    );
    return problemResponse(c, new ApiError("INTERNAL", "An unexpected error occurred."), scrub);
  };
}

function isBusy(error: Error): boolean {
  return "code" in error && typeof error.code === "string" && error.code.startsWith("SQLITE_BUSY");
}

export const handleNotFound: NotFoundHandler<AppEnv> = (c) =>
  problemResponse(c, new ApiError("NOT_FOUND", "No such route."));
