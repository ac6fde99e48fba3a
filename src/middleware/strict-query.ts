import type { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { ApiError } from "../lib/errors.js";
import { matchedRoute, registeredRoutes, routeKey } from "../lib/openapi.js";

/**
 * Query parameters are held to the same rule as body fields: an unknown one is 400
 * VALIDATION_FAILED naming it, so a typo (`?stauts=revoked`) never passes silently. Routes that
 * declare a query validate it with a strict schema themselves; this refuses any query on the routes
 * that declare none. The routes come from the OpenAPI registry, the one list of them.
 */
export function strictQuery(app: Pick<OpenAPIHono, "openAPIRegistry">): MiddlewareHandler {
  let routesWithQuery: Set<string> | undefined;
  return async (c, next) => {
    if (!c.req.url.includes("?")) return next();
    routesWithQuery ??= declaredQueries(app);
    const route = matchedRoute(c);
    if (route === undefined) return next(); // No such route: 404 follows.
    if (routesWithQuery.has(routeKey(route))) return next();
    const names = [...new Set(new URL(c.req.url).searchParams.keys())];
    if (names.length === 0) return next();
    throw new ApiError(
      "VALIDATION_FAILED",
      "The request is not valid.",
      names.map((name) => ({ path: name, message: "unknown field" })),
    );
  };
}

/** "GET /v1/keys"-style entries for every route declaring a query. */
function declaredQueries(app: Pick<OpenAPIHono, "openAPIRegistry">): Set<string> {
  const routes = new Set<string>();
  for (const [route, config] of registeredRoutes(app))
    if (config.request?.query !== undefined) routes.add(route);
  return routes;
}
