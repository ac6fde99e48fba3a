import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "../context.js";
import type { AppDeps } from "../deps.js";
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

export function problemResponse(c: Context<AppEnv>, error: ApiError): Response {
  const problem = problemOf(error, c.get("requestId") ?? "");
  return c.body(JSON.stringify(problem), error.status as 400, {
    "content-type": "application/problem+json",
    ...error.headers,
  });
}

/** The one error handler: every failure becomes problem+json; a 500 never shows a stack, SQL or a key. */
export function handleErrors(deps: AppDeps): ErrorHandler<AppEnv> {
  return (error, c) => {
    if (error instanceof ApiError) return problemResponse(c, error);
    if (error instanceof HTTPException && CODE_BY_STATUS[error.status]) {
      const code = CODE_BY_STATUS[error.status] as ErrorCode;
      const detail =
        code === "BAD_REQUEST"
          ? "The request body is not valid JSON."
          : code === "UNSUPPORTED_MEDIA_TYPE"
            ? "Send the request body as application/json."
            : error.message;
      return problemResponse(c, new ApiError(code, detail));
    }
    if (isBusy(error)) {
      return problemResponse(
        c,
        new ApiError("UNAVAILABLE", "The database is busy; try again.", undefined, { "retry-after": "1" }),
      );
    }
    deps.logger.error(
      {
        requestId: c.get("requestId"),
        err: {
          type: error.name,
          message: scrubSecrets(error.message),
          stack: scrubSecrets(error.stack ?? ""),
        },
      },
      "request failed",
    );
    return problemResponse(c, new ApiError("INTERNAL", "An unexpected error occurred."));
  };
}

function isBusy(error: Error): boolean {
  return "code" in error && typeof error.code === "string" && error.code.startsWith("SQLITE_BUSY");
}

export const handleNotFound: NotFoundHandler<AppEnv> = (c) =>
  problemResponse(c, new ApiError("NOT_FOUND", "No such route."));
