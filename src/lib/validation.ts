import type { Hook } from "@hono/zod-openapi";
import type { z } from "zod";
import type { AppEnv } from "../context.js";
import { holdsToken } from "../observability/logger.js";
import type { Clock } from "./clock.js";
import { ApiError, type FieldError } from "./errors.js";
import { everyText } from "./every-text.js";
import { matchedRoute, routeKey } from "./openapi.js";

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

const NO_TOKEN =
  "must not hold this deployment's admin or metrics token: a token lives only in the environment, this field is shown on every read";

/**
 * The routes whose bodies are not stored as given: a verify's is only looked up (and answered 200 for
 * any well-formed one, contract §5), and a revocation's `reason`, free text written in a hurry, has a
 * token in it redacted instead, so that the revocation goes through (services/keys.ts).
 */
const UNSTORED_BODIES = new Set(["POST /v1/keys/verify", "POST /v1/keys/:id/revoke"]);

/** The tokens a body sent to `route` may not hold: none for a body that is not stored. */
export function tokensRefusedBy(
  route: { method: string; path: string } | undefined,
  tokens: readonly string[],
) {
  return route !== undefined && UNSTORED_BODIES.has(routeKey(route)) ? [] : tokens;
}

/** What the rules of a body that schemas cannot see need: the time, and this deployment's tokens. */
export interface BodyRules {
  now: number;
  tokens: readonly string[];
}

/**
 * Every bad field of a request body: what the schema found (`schemaError`, undefined when it passed)
 * and the rules of contract §3 and SECURITY.md that the schemas cannot see, since they need the clock
 * or the configuration: a body's `expiresAt` must be in the future, and no field stored and shown
 * again may hold the admin or metrics token (named by its top-level field). Empty when the body is valid.
 */
export function bodyFieldErrors(
  body: unknown,
  schemaError: z.ZodError | undefined,
  { now, tokens }: BodyRules,
): FieldError[] {
  const errors = schemaError === undefined ? [] : fieldErrors(schemaError);
  if (typeof body !== "object" || body === null || Array.isArray(body)) return errors;
  // The top-level fields already named: a field is one bad field however deep its error (contract §6).
  const named = new Set(errors.map((error) => error.path.split(".")[0]));
  const expiresAt = (body as { expiresAt?: unknown }).expiresAt;
  if (typeof expiresAt === "string" && Date.parse(expiresAt) <= now && !named.has("expiresAt")) {
    errors.push(EXPIRES_AT_NOT_IN_FUTURE);
  }
  if (tokens.length === 0) return errors;
  const holdsNoToken = (text: string) => !holdsToken(text, tokens);
  for (const [field, value] of Object.entries(body)) {
    if (named.has(field)) continue;
    if (!everyText(value, holdsNoToken)) errors.push({ path: field, message: NO_TOKEN });
  }
  return errors;
}

/**
 * The validation hook every route shares: a failed body, query or path becomes 400 VALIDATION_FAILED.
 * A body's `expiresAt` in the past and a token in a stored field are checked here too, for every body,
 * so that they are named beside the body's other bad fields (contract §6) and the services receive
 * only a future time and no token.
 */
export function validationHook(
  clock: Clock,
  tokens: readonly string[],
): Hook<unknown, AppEnv, string, unknown> {
  return (result, c) => {
    // The parsed body, or on a failure the input, which @hono/zod-validator hands over though the Hook
    // type omits it.
    const body = result.target === "json" ? (result as { data?: unknown }).data : undefined;
    if (result.success && body === undefined) return; // a valid query or path: nothing more to check
    const schemaError = result.success ? undefined : (result.error as z.ZodError);
    const rules = { now: clock.now(), tokens: tokensRefusedBy(matchedRoute(c), tokens) };
    const errors = bodyFieldErrors(body, schemaError, rules);
    if (errors.length > 0) throw new ApiError("VALIDATION_FAILED", "The request is not valid.", errors);
  };
}
