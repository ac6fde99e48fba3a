import type { Hook } from "@hono/zod-openapi";
import type { z } from "zod";
import type { AppEnv } from "../context.js";
import type { Clock } from "./clock.js";
import { ApiError, type FieldError } from "./errors.js";

/**
 * One entry per bad field, with its dotted path. Unknown fields are reported each under its own
 * name, so a typo points at itself.
 */
export function fieldErrors(error: z.ZodError): FieldError[] {
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
 * The validation hook every route shares: a failed body, query or path becomes 400 VALIDATION_FAILED.
 * One rule of contract §3 needs the clock, which the schemas cannot see: a body's `expiresAt` must be in
 * the future. It is checked here, for every body, so that it is named beside the body's other bad
 * fields (contract §6) and the services receive only a future time.
 */
export function validationHook(clock: Clock): Hook<unknown, AppEnv, string, unknown> {
  return (result) => {
    // The parsed body, or on a failure the input, which @hono/zod-validator hands over though the Hook
    // type omits it.
    const body = result.target === "json" ? (result as { data?: { expiresAt?: unknown } | null }).data : null;
    const expiresAt = body?.expiresAt;
    const past = typeof expiresAt === "string" && Date.parse(expiresAt) <= clock.now();
    if (result.success && !past) return;
    const errors = result.success ? [] : fieldErrors(result.error as z.ZodError);
    if (past && !errors.some((error) => error.path === EXPIRES_AT_NOT_IN_FUTURE.path)) {
      errors.push(EXPIRES_AT_NOT_IN_FUTURE);
    }
    throw new ApiError("VALIDATION_FAILED", "The request is not valid.", errors);
  };
}
