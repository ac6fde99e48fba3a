import { createRoute, z } from "@hono/zod-openapi";
import { jsonBody, jsonResponse, rootKeyErrors, rootKeyNeeds } from "../../lib/openapi.js";
import { CreatedRootKey, Name, OwnerId, PermissionGrant, RootKey, RootKeyIdParam } from "../schemas.js";

const tags = ["Root keys"];

export const createRootKeyRoute = createRoute({
  method: "post",
  path: "/v1/root-keys",
  tags,
  operationId: "createRootKey",
  summary: "Create a root key with a subset of the caller's permissions",
  security: rootKeyNeeds("root_keys:write"),
  request: {
    body: jsonBody(
      z
        .strictObject({
          name: Name,
          // Any subset (contract §2), the empty one included: a key that can do nothing but be listed.
          permissions: z.array(PermissionGrant).max(16),
          // null: bound to no owner, as for a key (and as a RootKey shows it).
          ownerId: OwnerId.nullable().optional().openapi({
            description:
              "Binds the root key to one owner's keys; it may then hold neither * nor keyspaces:write. Valid Unicode (no lone surrogate), and holding no API key, nor this deployment's admin or metrics token.",
          }),
        })
        .openapi("CreateRootKeyRequest"),
    ),
  },
  responses: {
    201: jsonResponse(CreatedRootKey, "The root key, with its plaintext."),
    ...rootKeyErrors(413, 415),
  },
});

export const listRootKeysRoute = createRoute({
  method: "get",
  path: "/v1/root-keys",
  tags,
  operationId: "listRootKeys",
  summary: "List root keys, newest first",
  security: rootKeyNeeds("root_keys:write"),
  responses: {
    200: jsonResponse(z.object({ data: z.array(RootKey) }).openapi("RootKeyList"), "The root keys."),
    ...rootKeyErrors(),
  },
});

export const revokeRootKeyRoute = createRoute({
  method: "post",
  path: "/v1/root-keys/{id}/revoke",
  tags,
  operationId: "revokeRootKey",
  summary: "Revoke a root key (idempotent; takes effect on the next request)",
  security: rootKeyNeeds("root_keys:write"),
  request: { params: RootKeyIdParam },
  responses: { 200: jsonResponse(RootKey, "The revoked root key."), ...rootKeyErrors(404, 413, 415) },
});
