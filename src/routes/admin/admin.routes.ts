import { createRoute, z } from "@hono/zod-openapi";
import { adminSecurity, errorResponses, jsonBody, jsonResponse } from "../../lib/openapi.js";
import { CreatedRootKey, Name, Workspace } from "../schemas.js";

const errors = errorResponses(400, 401, 404, 413, 415, 429, 503);

export const createWorkspaceRoute = createRoute({
  method: "post",
  path: "/v1/admin/workspaces",
  tags: ["Admin"],
  operationId: "createWorkspace",
  summary: "Create a workspace and its first root key (needs KEYMINT_ADMIN_TOKEN; 404 when unset)",
  security: adminSecurity,
  request: { body: jsonBody(z.strictObject({ name: Name }).openapi("CreateWorkspaceRequest")) },
  responses: {
    201: jsonResponse(
      z.object({ workspace: Workspace, rootKey: CreatedRootKey }).openapi("CreatedWorkspace"),
      "The workspace and its root key (with plaintext, shown once).",
    ),
    ...errors,
    // Not the shared "no such resource": this route has no resource to miss, only a switch.
    404: { ...errors[404], description: "The admin routes are off: KEYMINT_ADMIN_TOKEN is unset." },
  },
});
