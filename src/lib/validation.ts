import type { Hook } from "@hono/zod-openapi";
import type { z } from "zod";
import type { AppEnv } from "../context.js";
import type { Clock } from "./clock.js";
import { ApiError, type FieldError } from "./errors.js";

/**
 * One entry per bad field, with its dotted path. Unknown fields are reported each under its own
 * name, so a typo points at itself.
 */
function fieldErrors(error: z.ZodError): FieldError[] {
  const byPath = new Map<string, string>();
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const path = [...issue.path, key].join(".");
        if (!byPath.has(path)) byPath.set(path, "unknown field");
      }
      continue;
    }
    const path = issue.path.map(String).join(".") || "(root)";
    if (!byPath.has(path)) byPath.set(path, issue.message);
  }
  return [...byPath].map(([path, message]) => ({ path, message }));
}

const EXPIRES_AT_NOT_IN_FUTURE: FieldError = { path: "expiresAt", message: "must be in the future" };

/**
 * Every bad field of a request body: what the schema found (`schemaError`, undefined when it passed)
 * and the one rule of contract §3 that needs the clock, which the schemas cannot see: a body's
 * `expiresAt` must be in the future. Empty when the body is valid.
 */
export function bodyFieldErrors(
  body: unknown,
  schemaError: z.ZodError | undefined,
  now: number,
): FieldError[] {
  const errors = schemaError === undefined ? [] : fieldErrors(schemaError);
  const expiresAt =
    typeof body === "object" && body !== null ? (body as { expiresAt?: unknown }).expiresAt : undefined;
  const past = typeof expiresAt === "string" && Date.parse(expiresAt) <= now;
  if (past && !errors.some((error) => error.path === EXPIRES_AT_NOT_IN_FUTURE.path)) {
    errors.push(EXPIRES_AT_NOT_IN_FUTURE);
  }
  return errors;
}

/**
 * The validation hook every route shares: a failed body, query or path becomes 400 VALIDATION_FAILED.
 * A body's `expiresAt` in the past is checked here too, for every body, so that it is named beside the
 * body's other bad fields (contract §6) and the services receive only a future time.
 */
export function validationHook(clock: Clock): Hook<unknown, AppEnv, string, unknown> {
  return (result) => {
    // The parsed body, or on a failure the input, which @hono/zod-validator hands over though the Hook
    // type omits it.
    const body = result.target === "json" ? (result as { data?: unknown }).data : undefined;
    if (result.success && body === undefined) return; // a valid query or path: nothing more to check
    const schemaError = result.success ? undefined : (result.error as z.ZodError);
    const errors = bodyFieldErrors(body, schemaError, clock.now());
    if (errors.length > 0) throw new ApiError("VALIDATION_FAILED", "The request is not valid.", errors);
  };
}
