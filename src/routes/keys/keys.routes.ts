import { createRoute, z } from "@hono/zod-openapi";
import {
  emptyJsonBodyAsEmptyObject,
  jsonBody,
  jsonResponse,
  optionalJsonBody,
  rootKeyErrors,
  rootKeyNeeds,
} from "../../lib/openapi.js";
import {
  AT_MOST_LAST_ISO_TIME,
  CreatedKey,
  Cursor,
  IsoTime,
  Key,
  KeyIdParam,
  Limit,
  Meta,
  Name,
  OwnerId,
  OwnerIdFilter,
  Ratelimit,
  Refill,
  Remaining,
  RequestedScopes,
  StoredScopes,
  UsageBucket,
  VerifyResult,
} from "../schemas.js";

const tags = ["Keys"];

const keyFields = {
  ownerId: OwnerId.nullable().optional(),
  name: Name.nullable().optional(),
  meta: Meta.optional(),
  scopes: StoredScopes.optional(),
  expiresAt: IsoTime.nullable()
    .optional()
    .openapi({ description: `Must be in the future, ${AT_MOST_LAST_ISO_TIME}; null for no expiry.` }),
  remaining: Remaining.nullable().optional().openapi({
    description: "Credits; null for unlimited (with refill: null too, when a refill would apply).",
  }),
  refill: Refill.nullable().optional(),
  ratelimit: Ratelimit.nullable().optional(),
  enabled: z.boolean().optional(),
};

export const CreateKeyBody = z
  .strictObject({
    // Any length: an id that names no keyspace is 404 (contract), however long.
    keyspaceId: z.string().min(1).openapi({ example: "ksp_3kPq9ZxL2mN8bV4c" }),
    ...keyFields,
  })
  .openapi("CreateKeyRequest");
export const UpdateKeyBody = z.strictObject(keyFields).openapi("UpdateKeyRequest");

export const createKeyRoute = createRoute({
  method: "post",
  path: "/v1/keys",
  tags,
  operationId: "createKey",
  summary: "Create a key (the plaintext is returned once, here)",
  security: rootKeyNeeds("keys:write"),
  request: { body: jsonBody(CreateKeyBody) },
  responses: {
    201: jsonResponse(CreatedKey, "The key, with its plaintext."),
    ...rootKeyErrors(404, 413, 415),
  },
});

export const listKeysRoute = createRoute({
  method: "get",
  path: "/v1/keys",
  tags,
  operationId: "listKeys",
  summary: "List keys, newest first",
  security: rootKeyNeeds("keys:read"),
  request: {
    query: z.strictObject({
      keyspaceId: z.string().min(1).max(64).optional(),
      ownerId: OwnerIdFilter.optional(),
      status: z.enum(["active", "revoked", "expired", "all"]).default("active"),
      limit: Limit,
      cursor: Cursor.optional(),
    }),
  },
  responses: {
    200: jsonResponse(
      z.object({ data: z.array(Key), nextCursor: z.string().nullable() }).openapi("KeyList"),
      "A page of keys.",
    ),
    ...rootKeyErrors(),
  },
});

export const getKeyRoute = createRoute({
  method: "get",
  path: "/v1/keys/{id}",
  tags,
  operationId: "getKey",
  summary: "Get a key",
  security: rootKeyNeeds("keys:read"),
  request: { params: KeyIdParam },
  responses: { 200: jsonResponse(Key, "The key."), ...rootKeyErrors(404) },
});

export const updateKeyRoute = createRoute({
  method: "patch",
  path: "/v1/keys/{id}",
  tags,
  operationId: "updateKey",
  summary: "Update a key (null clears a nullable field; meta and scopes replace the whole value)",
  security: rootKeyNeeds("keys:write"),
  request: { params: KeyIdParam, body: jsonBody(UpdateKeyBody) },
  responses: { 200: jsonResponse(Key, "The updated key."), ...rootKeyErrors(404, 409, 413, 415) },
});

export const rotateKeyRoute = createRoute({
  method: "post",
  path: "/v1/keys/{id}/rotate",
  tags,
  operationId: "rotateKey",
  summary: "Rotate a key: issue a successor; the old key stops after the grace period",
  security: rootKeyNeeds("keys:write"),
  middleware: [emptyJsonBodyAsEmptyObject],
  request: {
    params: KeyIdParam,
    body: optionalJsonBody(
      z.strictObject({ gracePeriodSeconds: z.number().int().min(0).max(2_592_000).default(0) }),
    ),
  },
  responses: {
    201: jsonResponse(CreatedKey, "The new key, with its plaintext."),
    ...rootKeyErrors(404, 409, 413, 415),
  },
});

export const revokeKeyRoute = createRoute({
  method: "post",
  path: "/v1/keys/{id}/revoke",
  tags,
  operationId: "revokeKey",
  summary: "Revoke a key (idempotent)",
  security: rootKeyNeeds("keys:write"),
  middleware: [emptyJsonBodyAsEmptyObject],
  request: {
    params: KeyIdParam,
    body: optionalJsonBody(
      z.strictObject({ reason: z.string().min(1).max(512).optional() }).openapi("RevokeKeyRequest"),
    ),
  },
  responses: { 200: jsonResponse(Key, "The revoked key."), ...rootKeyErrors(404, 413, 415) },
});

export const deleteKeyRoute = createRoute({
  method: "delete",
  path: "/v1/keys/{id}",
  tags,
  operationId: "deleteKey",
  summary: "Delete a key (its audit events stay)",
  security: rootKeyNeeds("keys:write"),
  request: { params: KeyIdParam },
  // It takes no body: one must be empty, {} or null (strictBody); too large is 413, a coded one 415.
  responses: { 204: { description: "Deleted." }, ...rootKeyErrors(404, 413, 415) },
});

export const VerifyBody = z.strictObject({
  // No length limit of its own (the body's 64 KiB is one): a string of any length that is not a key is
  // NOT_FOUND, as §5 answers every well-formed request 200, and isValidKey refuses a long one first.
  key: z.string().openapi({ example: "dm_live_4fJ9kQ2mXa1Bq8ZrT3vLw0YpN6cHs2KdF9gJm4XbR7tE3ighly" }),
  scopes: RequestedScopes.optional().openapi({
    description: "Scopes the key must all hold, each matched exactly (a wildcard matches nothing).",
  }),
  cost: z.number().int().min(0).max(1000).default(1).openapi({ description: "Credits to spend." }),
});

export const verifyKeyRoute = createRoute({
  method: "post",
  path: "/v1/keys/verify",
  tags,
  operationId: "verifyKey",
  summary: "Verify a key (200 for every well-formed request, valid key or not)",
  security: rootKeyNeeds("keys:verify"),
  request: { body: jsonBody(VerifyBody) },
  responses: { 200: jsonResponse(VerifyResult, "The outcome; `code` says why."), ...rootKeyErrors(413, 415) },
});

export const keyUsageRoute = createRoute({
  method: "get",
  path: "/v1/keys/{id}/usage",
  tags,
  operationId: "getKeyUsage",
  summary: "Verification counts of a key in UTC buckets",
  security: rootKeyNeeds("keys:read"),
  request: {
    params: KeyIdParam,
    query: z.strictObject({
      granularity: z.enum(["hour", "day"]).default("hour"),
      from: IsoTime.optional().openapi({
        description: `Inclusive, ${AT_MOST_LAST_ISO_TIME}; default 24 hours (hour) or 30 days (day) before \`to\`. The first bucket is whole: it holds its whole hour or day.`,
      }),
      to: IsoTime.optional().openapi({
        description: `Exclusive, ${AT_MOST_LAST_ISO_TIME}; default now. The last bucket is whole: it holds its whole hour or day.`,
      }),
    }),
  },
  responses: {
    200: jsonResponse(
      z.object({ data: z.array(UsageBucket) }).openapi("KeyUsage"),
      "Buckets with verifications.",
    ),
    ...rootKeyErrors(404),
  },
});
