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

/** The field error of an `expiresAt` not in the future (contract §3: `expiresAt` in the future). */
export const EXPIRES_AT_NOT_IN_FUTURE: FieldError = { path: "expiresAt", message: "must be in the future" };

/**
 * The validation hook every route shares: a failed body, query or path becomes 400 VALIDATION_FAILED.
 * One rule needs the clock, which the schemas cannot see: a body's `expiresAt` must be in the future.
 * The services check it once the rest is valid; for a body that fails, it is named here beside the
 * other bad fields, so that every one of them is named at once (contract §6).
 */
export function validationHook(clock: Clock): Hook<unknown, AppEnv, string, unknown> {
  return (result) => {
    if (result.success) return;
    const errors = fieldErrors(result.error as z.ZodError);
    if (result.target === "json" && !errors.some((error) => error.path === EXPIRES_AT_NOT_IN_FUTURE.path)) {
      // @hono/zod-validator hands the hook the input on a failure too, though the Hook type omits it.
      const input = (result as { data?: { expiresAt?: unknown } | null }).data;
      const expiresAt = input?.expiresAt;
      if (typeof expiresAt === "string" && Date.parse(expiresAt) <= clock.now())
        errors.push(EXPIRES_AT_NOT_IN_FUTURE);
    }
    throw new ApiError("VALIDATION_FAILED", "The request is not valid.", errors);
  };
}
