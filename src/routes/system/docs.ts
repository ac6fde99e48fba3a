import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
// Only the path helper: the package's main module also evaluates the 1.5 MB browser bundle (about 40 MB of heap).
import getAbsoluteFSPath from "swagger-ui-dist/absolute-path.js";
import type { AppEnv } from "../../context.js";

// Served from the installed package, not a CDN: the docs work on a machine with no internet access.
const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
};

const INITIALIZER = `window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#docs", deepLinking: true,
  persistAuthorization: false, tryItOutEnabled: true });`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>KeyMint API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="docs"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/init.js"></script>
</body>
</html>`;

const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

const docsRoute = createRoute({
  method: "get",
  path: "/docs",
  tags: ["Operations"],
  operationId: "docs",
  summary: "Interactive API documentation (Swagger UI)",
  security: [],
  responses: { 200: { description: "An HTML page.", content: { "text/html": { schema: z.string() } } } },
});

/** The interactive API documentation (Swagger UI over /openapi.json). */
export function docsRouter() {
  const root = getAbsoluteFSPath();
  const files = new Map(Object.keys(ASSETS).map((name) => [name, readFileSync(join(root, name))]));
  const router = new OpenAPIHono<AppEnv>();
  // Served by the app (src/app.ts); described here so that the document lists every route, itself included.
  router.openAPIRegistry.registerPath({
    method: "get",
    path: "/openapi.json",
    tags: ["Operations"],
    operationId: "openApiDocument",
    summary: "This OpenAPI 3.1 document",
    security: [],
    responses: {
      200: {
        description: "The OpenAPI document of every route.",
        content: { "application/json": { schema: { type: "object" } } },
      },
    },
  });
  // Only the docs' own paths: mounted at "/", a "*" middleware would loosen every other response's CSP.
  const docsCsp: MiddlewareHandler = async (c, next) => {
    await next();
    c.res.headers.set("content-security-policy", DOCS_CSP);
  };
  router.use("/docs", docsCsp);
  router.use("/docs/*", docsCsp);
  router.openapi(docsRoute, (c) => c.html(PAGE, 200));
  router.get("/docs/assets/init.js", (c) =>
    c.body(INITIALIZER, 200, { "content-type": ASSETS["swagger-ui-bundle.js"] ?? "" }),
  );
  router.get("/docs/assets/:name", (c) => {
    const name = c.req.param("name");
    const file = files.get(name);
    if (file === undefined) return c.notFound();
    return c.body(new Uint8Array(file), 200, { "content-type": ASSETS[name] ?? "application/octet-stream" });
  });
  return router;
}
