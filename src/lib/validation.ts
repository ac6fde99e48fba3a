import type { Hook } from "@hono/zod-openapi";
import type { z } from "zod";
import type { AppEnv } from "../context.js";
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

/** The validation hook every route shares: a failed body, query or path becomes 400 VALIDATION_FAILED. */
export const validationHook: Hook<unknown, AppEnv, string, unknown> = (result) => {
  if (!result.success) {
    throw new ApiError(
      "VALIDATION_FAILED",
      "The request is not valid.",
      fieldErrors(result.error as z.ZodError),
    );
  }
};
