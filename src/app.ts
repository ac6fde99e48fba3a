import { OpenAPIHono } from "@hono/zod-openapi";
import { adminAuth } from "./auth/admin-auth.js";
import { rootKeyAuth } from "./auth/root-key-auth.js";
import { routePermissions } from "./auth/route-permissions.js";
import type { AppEnv } from "./context.js";
import type { AppDeps } from "./deps.js";
import { withAnswerHeaders } from "./lib/openapi-headers.js";
import { validationHook } from "./lib/validation.js";
import { bodyLimit } from "./middleware/body-limit.js";
import { identityCodedBodies } from "./middleware/content-coding.js";
import { corsForOrigins } from "./middleware/cors.js";
import { handleErrors, handleUnrouted } from "./middleware/errors.js";
import { jsonBodyGuard } from "./middleware/json-body.js";
import { observeRequests } from "./middleware/observe-requests.js";
import { securityHeaders } from "./middleware/security-headers.js";
import { strictBody, strictQuery } from "./middleware/strict-input.js";
import { configuredTokens } from "./observability/logger.js";
import { adminRouter } from "./routes/admin/admin.index.js";
import { auditEventsRouter } from "./routes/audit-events/audit-events.index.js";
import { keysRouter } from "./routes/keys/keys.index.js";
import { keyspacesRouter } from "./routes/keyspaces/keyspaces.index.js";
import { rootKeysRouter } from "./routes/root-keys/root-keys.index.js";
import { docsRouter } from "./routes/system/docs.js";
import { systemRouter } from "./routes/system/system.index.js";

const API_VERSION = "1.0.0";

/** Builds the whole HTTP app from its dependencies; only src/index.ts serves it. */
export function createApp(deps: AppDeps) {
  const tokens = configuredTokens(deps.config);
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook(deps.clock, tokens) });

  app.use("*", observeRequests(deps));
  app.use("*", securityHeaders());
  const origins = deps.config.KEYMINT_CORS_ORIGINS;
  if (origins.length > 0) app.use("*", corsForOrigins(origins));
  app.use("/v1/*", bodyLimit());
  const authenticateRootKey = rootKeyAuth(deps);
  app.use("/v1/admin/*", adminAuth(deps));
  app.use("/v1/*", (c, next) =>
    c.req.path.startsWith("/v1/admin/") ? next() : authenticateRootKey(c, next),
  );
  app.use("/v1/*", routePermissions(app));
  app.use("/v1/*", strictQuery(app));
  app.use("/v1/*", identityCodedBodies());
  app.use("/v1/*", strictBody(app));
  app.use("/v1/*", jsonBodyGuard(app, deps.clock, tokens));

  app.route("/", systemRouter(deps));
  app.route("/", adminRouter(deps));
  app.route("/", keyspacesRouter(deps));
  app.route("/", keysRouter(deps));
  app.route("/", rootKeysRouter(deps));
  app.route("/", auditEventsRouter(deps));
  app.route("/", docsRouter());

  app.openAPIRegistry.registerComponent("securitySchemes", "rootKey", {
    type: "http",
    scheme: "bearer",
    description: "A root key: `Authorization: Bearer km_root_…`.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "adminToken", {
    type: "http",
    scheme: "bearer",
    description: "The deployment's KEYMINT_ADMIN_TOKEN.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "metricsToken", {
    type: "http",
    scheme: "bearer",
    description: "KEYMINT_METRICS_TOKEN, when set.",
  });
  const documentConfig: Parameters<typeof app.getOpenAPI31Document>[0] = {
    openapi: "3.1.0",
    info: {
      title: "KeyMint API",
      version: API_VERSION,
      description:
        "Issue, verify, rotate and revoke prefixed API keys.\n\n" +
        "Before it reaches an operation, any request may be answered 400 (not valid HTTP/1.1, or its Host " +
        "header), 408 (its headers did not arrive within 60 s, or all of it within 300 s) or 431 (headers " +
        "over 16 KiB), as problem+json with code BAD_REQUEST and an x-request-id; its connection is closed.",
      license: { name: "MIT", url: "https://opensource.org/license/mit" },
    },
    servers: [{ url: "/", description: "The KeyMint serving this document" }],
    tags: [
      { name: "Keys", description: "Create, list, rotate, revoke, delete and verify keys." },
      { name: "Keyspaces", description: "Groups of keys sharing a prefix, a hash algorithm and defaults." },
      { name: "Root keys", description: "Credentials for this API." },
      { name: "Audit", description: "Who changed what." },
      { name: "Admin", description: "Deployment administration." },
      { name: "Operations", description: "Health, readiness and metrics." },
    ],
  };
  // As app.doc31() serves it, with the headers every answer carries declared on each response.
  app.get("/openapi.json", (c) => c.json(withAnswerHeaders(app.getOpenAPI31Document(documentConfig))));

  app.onError(handleErrors(deps));
  app.notFound(handleUnrouted(app));
  return app;
}

export type App = ReturnType<typeof createApp>;
