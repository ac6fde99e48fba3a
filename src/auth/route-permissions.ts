import type { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../context.js";
import { matchedRoute, registeredRoutes, routeKey } from "../lib/openapi.js";
import { requirePermission } from "./caller.js";
import { PERMISSIONS, type Permission } from "./permissions.js";

/**
 * Refuses a root key that lacks the route's permission (403) straight after authentication, before
 * the query or the body is looked at: a caller without access gets the same answer whatever it sends,
 * and learns nothing from validation errors. The permission is the one the route's OpenAPI security
 * requirement names (rootKeyNeeds), so the document says what is enforced.
 */
export function routePermissions(app: Pick<OpenAPIHono, "openAPIRegistry">): MiddlewareHandler<AppEnv> {
  let needed: Map<string, Permission> | undefined;
  return async (c, next) => {
    needed ??= declaredPermissions(app);
    const route = matchedRoute(c);
    const permission = route && needed.get(routeKey(route));
    if (permission !== undefined) requirePermission(c.get("caller"), permission);
    return next();
  };
}

function declaredPermissions(app: Pick<OpenAPIHono, "openAPIRegistry">): Map<string, Permission> {
  const permissions = new Map<string, Permission>();
  for (const [route, config] of registeredRoutes(app)) {
    const named = config.security?.flatMap((requirement) => requirement.rootKey ?? []) ?? [];
    const permission = named.find((name): name is Permission => PERMISSIONS.includes(name as Permission));
    if (permission !== undefined) permissions.set(route, permission);
  }
  return permissions;
}
