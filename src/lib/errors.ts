import { STATUS_CODES } from "node:http";

export const ERROR_CODES = [
  "BAD_REQUEST",
  "VALIDATION_FAILED",
  "UNAUTHORIZED",
  "FORBIDDEN",
  "NOT_FOUND",
  "CONFLICT",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  "RATE_LIMITED",
  "INTERNAL",
  "UNAVAILABLE",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const STATUS_AND_TITLE: Record<ErrorCode, [status: number, title: string]> = {
  BAD_REQUEST: [400, "Bad Request"],
  VALIDATION_FAILED: [400, "Validation Failed"],
  UNAUTHORIZED: [401, "Unauthorized"],
  FORBIDDEN: [403, "Forbidden"],
  NOT_FOUND: [404, "Not Found"],
  CONFLICT: [409, "Conflict"],
  PAYLOAD_TOO_LARGE: [413, "Payload Too Large"],
  UNSUPPORTED_MEDIA_TYPE: [415, "Unsupported Media Type"],
  RATE_LIMITED: [429, "Too Many Requests"],
  INTERNAL: [500, "Internal Server Error"],
  UNAVAILABLE: [503, "Service Unavailable"],
};

export interface FieldError {
  path: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  requestId: string;
  errors?: FieldError[];
}

/** The one error type handlers throw; `onError` turns it into problem+json. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly errors?: FieldError[],
    readonly headers?: Record<string, string>,
    /**
     * A status other than the code's, for the few refusals of HTTP itself that no code names (408,
     * 431): the answer keeps a contract code, and its status and title say what HTTP says.
     */
    status?: number,
  ) {
    super(detail);
    this.status = status ?? statusOf(code);
  }
}

export function statusOf(code: ErrorCode): number {
  return STATUS_AND_TITLE[code][0];
}

export function problemOf(error: ApiError, requestId: string): Problem {
  const [codeStatus, codeTitle] = STATUS_AND_TITLE[error.code];
  const status = error.status;
  return {
    type: `https://keymint.dev/problems/${error.code.toLowerCase().replaceAll("_", "-")}`,
    title: status === codeStatus ? codeTitle : (STATUS_CODES[status] ?? codeTitle),
    status,
    detail: error.detail,
    code: error.code,
    requestId,
    ...(error.errors ? { errors: error.errors } : {}),
  };
}

export const notFound = (what: string) => new ApiError("NOT_FOUND", `${what} not found.`);
