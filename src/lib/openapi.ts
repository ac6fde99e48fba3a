import type { OpenAPIHono, RouteConfig } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Permission } from "../auth/permissions.js";
import { Problem } from "../routes/schemas.js";

const DESCRIPTIONS: Record<number, string> = {
  400: "Malformed JSON (BAD_REQUEST), or a body or query that fails validation (VALIDATION_FAILED).",
  401: "Missing, malformed, unknown or revoked credentials.",
  403: "The root key lacks the permission, or asks for more than it holds.",
  404: "No such resource in this workspace (or for this owner).",
  409: "The request conflicts with the resource's state.",
  413: "The body is over 64 KiB.",
  415: "The body is not application/json, or is sent with a Content-Encoding (bodies are read as they are).",
  429: "Too many failed attempts at this token from this client.",
  500: "Unexpected error; details are in the server log under the request id.",
  503: "Unavailable: the database is busy or not usable, the server is shutting down, or too many argon2 hashes are waiting.",
};

/** The problem+json responses a route can answer with, for its OpenAPI entry. */
export function errorResponses(...statuses: number[]): RouteConfig["responses"] {
  const responses: RouteConfig["responses"] = {};
  for (const status of [...statuses, 500]) {
    responses[status] = {
      description: DESCRIPTIONS[status] ?? "Error",
      content: { "application/problem+json": { schema: Problem } },
    };
  }
  return responses;
}

/** Errors every root-key-authenticated route can answer with. */
export const rootKeyErrors = (...more: number[]) => errorResponses(400, 401, 403, 503, ...more);

/**
 * A root-key route's security requirement, naming the permission it needs: OpenAPI 3.1 lets a scheme
 * other than OAuth list the roles an operation requires. The app enforces what this says
 * (src/auth/route-permissions.ts), so the document and the check cannot disagree.
 */
export function rootKeyNeeds(permission: Permission) {
  return [{ rootKey: [permission] }];
}

/**
 * The route a request matched (method and template, "/v1/keys/:id"), also while a middleware runs
 * before it; undefined when none did. Middleware entries are method "ALL".
 */
export function matchedRoute(c: Context): { method: string; path: string } | undefined {
  return matchedRoutes(c).findLast((entry) => entry.method !== "ALL");
}

/** How registeredRoutes keys a route: "GET /v1/keys/:id". */
export const routeKey = (route: { method: string; path: string }) => `${route.method} ${route.path}`;

/** Every route in the OpenAPI registry, keyed as Hono matches it: "GET /v1/keys/:id". */
export function registeredRoutes(app: Pick<OpenAPIHono, "openAPIRegistry">): Map<string, RouteConfig> {
  const routes = new Map<string, RouteConfig>();
  for (const definition of app.openAPIRegistry.definitions) {
    if (definition.type !== "route") continue;
    const path = definition.route.path.replace(/\{(\w+)\}/g, ":$1");
    routes.set(routeKey({ method: definition.route.method.toUpperCase(), path }), definition.route);
  }
  return routes;
}
/** A route's JSON body schema, as far as the middleware before its validator needs it. */
export interface BodySchema {
  safeParse(value: unknown): { success: true } | { success: false; error: unknown };
}

/** The JSON body schema of every route that declares a body, keyed as registeredRoutes keys a route. */
export function routeBodySchemas(app: Pick<OpenAPIHono, "openAPIRegistry">): Map<string, BodySchema> {
  const schemas = new Map<string, BodySchema>();
  for (const [route, config] of registeredRoutes(app)) {
    const media: unknown = config.request?.body?.content?.["application/json"];
    const schema = (media as { schema?: unknown } | undefined)?.schema;
    if (typeof (schema as Partial<BodySchema> | undefined)?.safeParse === "function") {
      schemas.set(route, schema as BodySchema);
    }
  }
  return schemas;
}

export const adminSecurity = [{ adminToken: [] }];

/**
 * A JSON request body. A body schema with defaulted fields must stay unnamed (inline): client generators
 * such as openapi-typescript make a defaulted property of a named component required.
 */
export function jsonBody<T>(schema: T, description?: string) {
  return {
    content: { "application/json": { schema } },
    required: true,
    ...(description ? { description } : {}),
  };
}

export function jsonResponse<T>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** A JSON request body the client may leave out. Pair it with `emptyJsonBodyAsEmptyObject`. */
export function optionalJsonBody<T>(schema: T) {
  return { ...jsonBody(schema), required: false };
}

/**
 * For routes whose body is optional: an empty body sent as application/json (a client that sets the
 * header on every request) means "no fields", not malformed JSON.
 */
export const emptyJsonBodyAsEmptyObject: MiddlewareHandler = async (c, next) => {
  if (c.req.header("content-type")?.toLowerCase().includes("json") && (await c.req.text()).trim() === "") {
    // The body was read (and cached by Hono): hand the validator a fresh request holding "{}".
    const { url, method, headers } = c.req.raw;
    c.req.raw = new Request(url, { method, headers, body: "{}" });
    c.req.bodyCache = {};
  }
  await next();
};
