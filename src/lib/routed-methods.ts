/** A route as Hono lists it in `app.routes`: middleware entries are method "ALL". */
interface RouteEntry {
  method: string;
  path: string;
}

/**
 * The methods an app routes for a path, from its route table: `/v1/keys/key_…` → DELETE, GET, HEAD,
 * PATCH. For the answer to a request no route took (its Allow header), so it reads the table on the
 * first such request, once every route is registered.
 */
export function routedMethods(app: { routes: readonly RouteEntry[] }): (path: string) => string[] {
  let templates: { method: string; pattern: RegExp }[] | undefined;
  return (path) => {
    templates ??= app.routes
      .filter((route) => route.method !== "ALL")
      .map((route) => ({ method: route.method, pattern: templatePattern(route.path) }));
    const methods = new Set<string>();
    for (const { method, pattern } of templates) {
      if (!pattern.test(path)) continue;
      methods.add(method);
      if (method === "GET") methods.add("HEAD"); // Hono answers HEAD with the GET route
    }
    return [...methods].sort();
  };
}

/** "/v1/keys/:id/revoke" → /^\/v1\/keys\/[^/]+\/revoke$/: a parameter is one whole segment. */
function templatePattern(template: string): RegExp {
  const segments = template
    .split("/")
    .map((segment) => (segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  return new RegExp(`^${segments.join("/")}$`);
}
