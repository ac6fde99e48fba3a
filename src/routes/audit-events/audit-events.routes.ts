import { createRoute, z } from "@hono/zod-openapi";
import { jsonResponse, rootKeyErrors, rootKeyNeeds } from "../../lib/openapi.js";
import { AUDIT_ACTIONS } from "../../services/audit.js";
import { AuditEvent, Cursor, Limit } from "../schemas.js";

export const listAuditEventsRoute = createRoute({
  method: "get",
  path: "/v1/audit-events",
  tags: ["Audit"],
  operationId: "listAuditEvents",
  summary: "List audit events, newest first",
  security: rootKeyNeeds("audit:read"),
  request: {
    query: z.strictObject({
      resourceId: z.string().min(1).max(64).optional(),
      action: z.enum(AUDIT_ACTIONS).optional(),
      limit: Limit,
      cursor: Cursor.optional(),
    }),
  },
  responses: {
    200: jsonResponse(
      z.object({ data: z.array(AuditEvent), nextCursor: z.string().nullable() }).openapi("AuditEventList"),
      "A page of audit events.",
    ),
    ...rootKeyErrors(),
  },
});
