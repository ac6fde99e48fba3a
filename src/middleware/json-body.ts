import { isUtf8 } from "node:buffer";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { Clock } from "../lib/clock.js";
import { ApiError, type FieldError } from "../lib/errors.js";
import { type BodySchema, matchedRoute, routeBodySchemas, routeKey } from "../lib/openapi.js";
import { type BodyRules, bodyFieldErrors, tokensRefusedBy } from "../lib/validation.js";

/**
 * How deep a JSON body may nest: as deep as the deepest valid request, a `meta` of 4 KiB (the
 * contract's limit) nested all the way, `{"meta":{"":[[…]]}}` with 2,045 arrays. Deeper bodies can only
 * be refused, and refusing them here keeps them from JSON.stringify's stack.
 */
export const MAX_JSON_DEPTH = 2_047;

// The media types hono's validator reads as JSON (which of them a route takes is JSON_REQUEST_TYPE below).
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const UTF8 = new TextDecoder();
// Searched as bytes: a string needle would be converted to a Buffer on every search.
const PROTO_NAME = Buffer.from("__proto__");
const UNICODE_ESCAPE = Buffer.from("\\u");

/**
 * Refuses JSON bodies that are well-formed enough to parse but hostile to what comes after:
 * invalid UTF-8 (400, instead of being stored as U+FFFD), nesting deeper than MAX_JSON_DEPTH (400,
 * instead of a stack overflow in JSON.stringify), and `__proto__` field names at any depth (400
 * VALIDATION_FAILED naming the object: zod's copy of an object would turn one into a prototype and
 * drop it silently, and nested ones would be stored as given). Runs after authentication, so anonymous callers never get their bodies read.
 */
export function jsonBodyGuard(
  app: Pick<OpenAPIHono, "openAPIRegistry">,
  clock: Clock,
  tokens: readonly string[],
): MiddlewareHandler {
  let bodySchemas: Map<string, BodySchema> | undefined;
  return async (c, next) => {
    const method = c.req.method;
    if (method === "GET" || method === "HEAD") return next();
    const contentType = c.req.header("content-type");
    if (contentType === undefined || !isJsonMediaType(contentType)) return next();
    // Hono caches the bytes: the route's validator parses these, the body is read once.
    const bytes = Buffer.from(await c.req.arrayBuffer());
    const refusal = jsonBodyRefusal(bytes);
    if (refusal !== undefined) {
      bodySchemas ??= routeBodySchemas(app);
      const route = matchedRoute(c);
      const rules = { now: clock.now(), tokens: tokensRefusedBy(route, tokens) };
      throw withTheOtherFieldErrors(refusal, bytes, route && bodySchemas.get(routeKey(route)), rules);
    }
    // Hono would rebuild the validator's text from the cached bytes through a web Response (streams
    // and all: the costliest step of a verify); it finds the text decoded here instead, as Response
    // decodes it (a byte order mark dropped). Hono keeps promises in bodyCache, whatever its type says.
    (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(UTF8.decode(bytes));
    return next();
  };
}

/**
 * A body refused for its `__proto__` fields, with the errors the route's validation finds in the rest
 * of it beside them (its schema, and the rules bodyFieldErrors adds): one entry per bad field
 * (contract §6), as if the fields had reached validation.
 */
function withTheOtherFieldErrors(
  refusal: ApiError,
  bytes: Buffer,
  schema: BodySchema | undefined,
  rules: BodyRules,
): ApiError {
  if (refusal.code !== "VALIDATION_FAILED" || schema === undefined) return refusal;
  const body: unknown = JSON.parse(bytes.toString("utf8"));
  const result = schema.safeParse(body);
  const schemaError = result.success ? undefined : (result.error as Parameters<typeof bodyFieldErrors>[1]);
  const errors = [...(refusal.errors ?? [])];
  const named = new Set(errors.map((error) => error.path));
  for (const error of bodyFieldErrors(body, schemaError, rules)) {
    if (!named.has(error.path) && !error.path.split(".").includes("__proto__")) errors.push(error);
  }
  return errors.length > (refusal.errors ?? []).length
    ? new ApiError("VALIDATION_FAILED", refusal.detail, errors)
    : refusal;
}

// @hono/zod-openapi's test of a request's content type against a route's JSON body: the media type,
// then only `;name=value` parameters. Anything else it answers 415 (`application/json;` included).
const JSON_REQUEST_TYPE = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;

/** Whether the routes take a body with this content type as JSON, as @hono/zod-openapi decides it. */
export function isJsonRequestType(contentType: string): boolean {
  return JSON_REQUEST_TYPE.test(contentType);
}

/** Whether a content-type header names JSON, as hono's validator reads it (the guard looks at these). */
function isJsonMediaType(contentType: string): boolean {
  const mediaType = contentType.split(";")[0]?.trim();
  return mediaType !== undefined && JSON_MEDIA_TYPE.test(mediaType);
}

/** Why a JSON body must be refused before it is parsed (see jsonBodyGuard); undefined when it need not be. */
export function jsonBodyRefusal(bytes: Buffer): ApiError | undefined {
  if (!isUtf8(bytes)) return new ApiError("BAD_REQUEST", "The request body is not valid UTF-8.");
  if (nestingDepth(bytes, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    return new ApiError("BAD_REQUEST", `The request body nests deeper than ${MAX_JSON_DEPTH} levels.`);
  }
  // "__proto__" can only be a field name when it is spelled out or escaped (\u005f…).
  if (bytes.includes(PROTO_NAME) || bytes.includes(UNICODE_ESCAPE)) {
    const errors = protoFieldErrors(bytes);
    if (errors.length > 0) return new ApiError("VALIDATION_FAILED", "The request is not valid.", errors);
  }
  return undefined;
}

/**
 * The deepest nesting of objects and arrays, stopping early past `limit`. Works on the bytes: in
 * UTF-8 no byte of a multi-byte character is ASCII, so brackets and quotes are found exactly.
 * Malformed JSON gets some number; the validator refuses it afterwards anyway.
 */
function nestingDepth(bytes: Uint8Array, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      depth--;
    }
  }
  return deepest;
}

/**
 * One error per object holding a `__proto__` field, at the object's dotted path (as the meta schema
 * reports it). Depth is bounded by now, so the recursion is safe.
 */
function protoFieldErrors(bytes: Buffer): FieldError[] {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch {
    return []; // Malformed: the route's validator answers 400 for it.
  }
  const errors: FieldError[] = [];
  // One path, pushed and popped on the way: copying it at every node cost depth × nodes, 100 ms for a
  // 64 KiB body nested 2,000 deep.
  const path: string[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) {
      for (const [index, item] of node.entries()) {
        path.push(String(index));
        walk(item);
        path.pop();
      }
    } else if (node !== null && typeof node === "object") {
      for (const [name, child] of Object.entries(node)) {
        if (name === "__proto__") {
          errors.push({ path: path.join(".") || "(root)", message: "must not have a __proto__ key" });
          continue;
        }
        path.push(name);
        walk(child);
        path.pop();
      }
    }
  };
  walk(value);
  return errors;
}
