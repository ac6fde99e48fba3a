import { createRoute, z } from "@hono/zod-openapi";
import { jsonBody, jsonResponse, rootKeyErrors, rootKeyNeeds } from "../../lib/openapi.js";
import { KeyDefaults, Keyspace, KeyspaceIdParam, Name, Prefix } from "../schemas.js";

const tags = ["Keyspaces"];

export const createKeyspaceRoute = createRoute({
  method: "post",
  path: "/v1/keyspaces",
  tags,
  operationId: "createKeyspace",
  summary: "Create a keyspace (prefixes are unique across the deployment)",
  security: rootKeyNeeds("keyspaces:write"),
  request: {
    body: jsonBody(
      z.strictObject({
        name: Name,
        prefix: Prefix,
        hashAlgorithm: z.enum(["sha256", "argon2id"]).default("sha256"),
        defaults: KeyDefaults.optional(),
      }),
    ),
  },
  responses: { 201: jsonResponse(Keyspace, "The keyspace."), ...rootKeyErrors(409, 413, 415) },
});

export const listKeyspacesRoute = createRoute({
  method: "get",
  path: "/v1/keyspaces",
  tags,
  operationId: "listKeyspaces",
  summary: "List keyspaces, newest first",
  security: rootKeyNeeds("keyspaces:read"),
  responses: {
    200: jsonResponse(z.object({ data: z.array(Keyspace) }).openapi("KeyspaceList"), "The keyspaces."),
    ...rootKeyErrors(),
  },
});

export const getKeyspaceRoute = createRoute({
  method: "get",
  path: "/v1/keyspaces/{id}",
  tags,
  operationId: "getKeyspace",
  summary: "Get a keyspace",
  security: rootKeyNeeds("keyspaces:read"),
  request: { params: KeyspaceIdParam },
  responses: { 200: jsonResponse(Keyspace, "The keyspace."), ...rootKeyErrors(404) },
});

export const updateKeyspaceRoute = createRoute({
  method: "patch",
  path: "/v1/keyspaces/{id}",
  tags,
  operationId: "updateKeyspace",
  summary: "Rename a keyspace or replace its defaults",
  security: rootKeyNeeds("keyspaces:write"),
  request: {
    params: KeyspaceIdParam,
    body: jsonBody(
      z
        .strictObject({ name: Name.optional(), defaults: KeyDefaults.optional() })
        .openapi("UpdateKeyspaceRequest"),
    ),
  },
  responses: { 200: jsonResponse(Keyspace, "The updated keyspace."), ...rootKeyErrors(404, 413, 415) },
});
