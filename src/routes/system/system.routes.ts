import { createRoute, z } from "@hono/zod-openapi";
import { errorResponses, jsonResponse } from "../../lib/openapi.js";
import { Health } from "../schemas.js";

const tags = ["Operations"];

export const healthzRoute = createRoute({
  method: "get",
  path: "/healthz",
  tags,
  operationId: "healthz",
  summary: "Liveness: the process is up",
  security: [],
  responses: { 200: jsonResponse(Health, "Up.") },
});

export const readyzRoute = createRoute({
  method: "get",
  path: "/readyz",
  tags,
  operationId: "readyz",
  summary: "Readiness: the database answers and is migrated",
  security: [],
  responses: { 200: jsonResponse(Health, "Ready."), ...errorResponses(503) },
});

export const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  tags,
  operationId: "metrics",
  summary: "Prometheus metrics (Bearer KEYMINT_METRICS_TOKEN when set)",
  security: [{}, { metricsToken: [] }],
  responses: {
    200: {
      description: "Prometheus text exposition format.",
      content: { "text/plain": { schema: z.string() } },
    },
    ...errorResponses(401, 429),
  },
});
