import type { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { ApiError } from "../lib/errors.js";
import { matchedRoute, registeredRoutes, routeBodySchemas, routeKey } from "../lib/openapi.js";

/*
 * Input a route does not declare is refused, never ignored, so a typo never passes silently
 * (contract §3). Routes that declare a query or a body validate it with a strict schema themselves;
 * these refuse any query, or any body with something in it, on the routes that declare none. The
 * routes come from the OpenAPI registry, the one list of them.
 */

type Registry = Pick<OpenAPIHono, "openAPIRegistry">;

/** An unknown query parameter is 400 VALIDATION_FAILED naming it (`?stauts=revoked`). */
export function strictQuery(app: Registry): MiddlewareHandler {
  let routesWithQuery: Set<string> | undefined;
  return async (c, next) => {
    if (!c.req.url.includes("?")) return next();
    routesWithQuery ??= declaredQueries(app);
    const route = matchedRoute(c);
    if (route === undefined) return next(); // No such route: 404 follows.
    if (routesWithQuery.has(routeKey(route))) return next();
    const names = [...new Set(new URL(c.req.url).searchParams.keys())];
    if (names.length === 0) return next();
    throw unknownFields(names);
  };
}

/**
 * A body on a route that takes none (DELETE /v1/keys/:id, POST /v1/root-keys/:id/revoke): fields are
 * 400 VALIDATION_FAILED naming each, anything else but nothing, `{}` or `null` is 400 BAD_REQUEST.
 * Otherwise `DELETE … {"confirm": false}` would delete.
 */
export function strictBody(app: Registry): MiddlewareHandler {
  let routesWithBody: Map<string, unknown> | undefined;
  return async (c, next) => {
    const method = c.req.method;
    if (method === "GET" || method === "HEAD" || method === "OPTIONS") return next();
    routesWithBody ??= routeBodySchemas(app);
    const route = matchedRoute(c);
    if (route === undefined || routesWithBody.has(routeKey(route))) return next();
    // Only now, on the few routes without a body: on Node, c.req.raw builds the whole web Request (a
    // stream over the socket and all), which the JSON guard spares the other routes by reading bytes.
    if (c.req.raw.body === null) return next();
    const text = (await c.req.text()).trim();
    if (text === "") return next();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw takesNoBody();
    }
    // Nothing said: null, or an object without fields however it is spaced.
    if (parsed === null) return next();
    if (typeof parsed !== "object" || Array.isArray(parsed)) throw takesNoBody();
    const fields = Object.keys(parsed);
    if (fields.length > 0) throw unknownFields(fields);
    return next();
  };
}

const takesNoBody = () => new ApiError("BAD_REQUEST", "This route takes no request body.");

function unknownFields(names: string[]): ApiError {
  return new ApiError(
    "VALIDATION_FAILED",
    "The request is not valid.",
    names.map((name) => ({ path: name, message: "unknown field" })),
  );
}

/** "GET /v1/keys"-style entries for every route declaring a query. */
function declaredQueries(app: Registry): Set<string> {
  const routes = new Set<string>();
  for (const [route, config] of registeredRoutes(app))
    if (config.request?.query !== undefined) routes.add(route);
  return routes;
}
