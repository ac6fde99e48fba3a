import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context.js";
import type { AppDeps } from "../../deps.js";
import { auditEventHandlers } from "./audit-events.handlers.js";
import { listAuditEventsRoute } from "./audit-events.routes.js";

export function auditEventsRouter(deps: AppDeps) {
  return new OpenAPIHono<AppEnv>().openapi(listAuditEventsRoute, auditEventHandlers(deps).list);
}
