import { beforeAll, describe, expect, it } from "vitest";
import { isValidKey, isValidRootKey, parseKey } from "../../src/keys/format.js";
import { createTestApp } from "../helpers.js";

interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  responses: Record<string, unknown>;
}

interface Document {
  openapi: string;
  info: { description: string };
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, { enum?: string[]; type?: string }>;
    securitySchemes: Record<string, { type: string; scheme: string }>;
    headers: Record<string, { required?: boolean }>;
  };
}

/** A root key holding this permission (contract §4's permission column). */
const rootKey = (permission: string) => [{ rootKey: [permission] }];
const ADMIN = [{ adminToken: [] }];
const OPEN: never[] = [];

// Contract §4, row by row (paths in OpenAPI's {param} form).
const CONTRACT_ROUTES: [method: string, path: string, security: unknown[]][] = [
  ["post", "/v1/admin/workspaces", ADMIN],
  ["post", "/v1/keyspaces", rootKey("keyspaces:write")],
  ["get", "/v1/keyspaces", rootKey("keyspaces:read")],
  ["get", "/v1/keyspaces/{id}", rootKey("keyspaces:read")],
  ["patch", "/v1/keyspaces/{id}", rootKey("keyspaces:write")],
  ["post", "/v1/keys", rootKey("keys:write")],
  ["get", "/v1/keys", rootKey("keys:read")],
  ["get", "/v1/keys/{id}", rootKey("keys:read")],
  ["patch", "/v1/keys/{id}", rootKey("keys:write")],
  ["post", "/v1/keys/{id}/rotate", rootKey("keys:write")],
  ["post", "/v1/keys/{id}/revoke", rootKey("keys:write")],
  ["delete", "/v1/keys/{id}", rootKey("keys:write")],
  ["post", "/v1/keys/verify", rootKey("keys:verify")],
  ["get", "/v1/keys/{id}/usage", rootKey("keys:read")],
  ["post", "/v1/root-keys", rootKey("root_keys:write")],
  ["get", "/v1/root-keys", rootKey("root_keys:write")],
  ["post", "/v1/root-keys/{id}/revoke", rootKey("root_keys:write")],
  ["get", "/v1/audit-events", rootKey("audit:read")],
  ["get", "/healthz", OPEN],
  ["get", "/readyz", OPEN],
  ["get", "/openapi.json", OPEN],
  ["get", "/docs", OPEN],
];

describe("GET /openapi.json", () => {
  let doc: Document;
  let status: number;
  let contentType: string | null;
  beforeAll(async () => {
    const t = await createTestApp();
    const response = await t.call("GET", "/openapi.json", { token: null });
    status = response.status;
    contentType = response.headers.get("content-type");
    doc = response.body;
  });

  const operation = (method: string, path: string) => doc.paths[path]?.[method];

  it("is an OpenAPI 3.1 document served without credentials, which names the answers given before any operation", () => {
    expect(status).toBe(200);
    expect(contentType).toContain("application/json");
    expect(doc.openapi).toBe("3.1.0");
    // Node's parser refuses these before a route is known (src/server/unparsable-requests.ts).
    for (const answer of [
      "400 (not valid HTTP/1.1",
      "408 (its headers did not arrive",
      "431 (headers over 16 KiB)",
      "as problem+json with code BAD_REQUEST and an x-request-id",
    ])
      expect(doc.info.description).toContain(answer);
  });

  it.each(CONTRACT_ROUTES)("describes %s %s with its security", (method, path, security) => {
    const described = operation(method, path);
    expect(described, `${method.toUpperCase()} ${path} is missing`).toBeDefined();
    expect(described?.security).toEqual(security);
  });

  it("gives every operation a unique operationId, a summary, a tag and a 2xx response", () => {
    const ids = new Set<string>();
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, described] of Object.entries(methods)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(described.operationId, where).toEqual(expect.any(String));
        expect(ids.has(described.operationId ?? ""), `${where} repeats an operationId`).toBe(false);
        ids.add(described.operationId ?? "");
        expect(described.summary, where).toEqual(expect.any(String));
        expect(described.tags?.length, where).toBeGreaterThan(0);
        expect(
          Object.keys(described.responses).some((code) => code.startsWith("2")),
          where,
        ).toBe(true);
      }
    }
  });

  it("lists 401 and 403 as problem+json on every root-key route", () => {
    for (const [method, path, security] of CONTRACT_ROUTES) {
      if (!security.some((requirement) => Object.hasOwn(requirement as object, "rootKey"))) continue;
      const responses = operation(method, path)?.responses ?? {};
      for (const code of ["401", "403"]) {
        expect(responses[code], `${method.toUpperCase()} ${path} ${code}`).toMatchObject({
          content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
        });
      }
    }
  });

  it("lists 503 UNAVAILABLE as problem+json with Retry-After on every root-key route", () => {
    for (const [method, path, security] of CONTRACT_ROUTES) {
      if (!security.some((requirement) => Object.hasOwn(requirement as object, "rootKey"))) continue;
      const where = `${method.toUpperCase()} ${path} 503`;
      const response = operation(method, path)?.responses["503"] as
        | { headers?: Record<string, unknown> }
        | undefined;
      expect(response, where).toMatchObject({
        content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
      });
      expect(response?.headers?.["retry-after"], where).toBeDefined();
    }
  });

  it("lists 401 on every route that checks a credential, and 429 (the token throttle) only where a token is checked; an admin 404 says the routes are off", () => {
    for (const [method, path, security] of CONTRACT_ROUTES) {
      if (security.length === 0) continue;
      const responses = operation(method, path)?.responses ?? {};
      const where = `${method.toUpperCase()} ${path}`;
      expect(responses["401"], `${where} 401`).toBeDefined();
      // Root-key failures are always 401 (contract §2); only the admin token is throttled.
      if (security === ADMIN) expect(responses["429"], `${where} 429`).toBeDefined();
      else expect(responses["429"], `${where} 429`).toBeUndefined();
    }
    const metrics = operation("get", "/metrics")?.responses ?? {};
    for (const code of ["401", "429"]) expect(metrics[code], `GET /metrics ${code}`).toBeDefined();
    // The admin route's 404 is the switch being off (contract §2), not a resource it failed to find.
    expect(operation("post", "/v1/admin/workspaces")?.responses["404"]).toMatchObject({
      description: "The admin routes are off: KEYMINT_ADMIN_TOKEN is unset.",
    });
  });

  it("declares x-request-id on every response, Retry-After on every 429 and 503, WWW-Authenticate on every 401 (each required), and an optional Accept-Encoding on every 415", () => {
    const requestId = { $ref: "#/components/headers/RequestId" };
    let responses = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, { responses: byStatus }] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(byStatus)) {
          const headers = (response as { headers?: Record<string, unknown> }).headers ?? {};
          expect(headers["x-request-id"], `${method} ${path} ${status}`).toEqual(requestId);
          if (status === "429" || status === "503")
            expect(headers["retry-after"], `${method} ${path} ${status}`).toBeDefined();
          if (status === "401") expect(headers["www-authenticate"], `${method} ${path}`).toBeDefined();
          // Sent only for a body with a Content-Encoding: written out, so that generated clients type it optional.
          if (status === "415")
            expect(headers["accept-encoding"], `${method} ${path}`).toMatchObject({ required: false });
          responses++;
        }
      }
    }
    expect(responses).toBeGreaterThan(100);
    expect(Object.keys(doc.components.headers)).toEqual(["RequestId", "RetryAfter", "WWWAuthenticate"]);
    // Always sent with their statuses: a referenced header is typed as present by client generators.
    for (const [name, header] of Object.entries(doc.components.headers))
      expect(header.required, name).toBe(true);
  });

  it("answers every error status with a Problem, the admin route's 404 that says the routes are off included", () => {
    let errors = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, { responses }] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(responses)) {
          if (Number(status) < 400) continue;
          expect(response, `${method} ${path} ${status}`).toMatchObject({
            content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
          });
          errors++;
        }
      }
    }
    expect(errors).toBeGreaterThan(100);
  });

  it("gives a created key and a created root key examples of their own kind, whose start and last4 are the key's", () => {
    type Example = { example?: string };
    const fields = (name: string) =>
      (doc.components.schemas[name] as { properties: Record<string, Example> }).properties;
    for (const [name, valid] of [
      ["CreatedKey", isValidKey],
      ["CreatedRootKey", isValidRootKey],
    ] as const) {
      const { key, start, last4 } = fields(name);
      expect(valid(key?.example ?? ""), `${name}.key ${key?.example}`).toBe(true);
      expect(parseKey(key?.example ?? "")).toMatchObject({ start: start?.example, last4: last4?.example });
    }
  });

  it("says a stored text may hold neither an API key nor this deployment's admin or metrics token", () => {
    type Described = { description?: string };
    const fields = (name: string) =>
      (doc.components.schemas[name] as { properties: Record<string, Described> }).properties;
    for (const [schema, field] of [
      ["CreateKeyRequest", "name"],
      ["CreateRootKeyRequest", "name"],
      ["CreateRootKeyRequest", "ownerId"],
    ] as const)
      expect(fields(schema)[field]?.description, `${schema}.${field}`).toContain(
        "holding no API key, nor this deployment's admin or metrics token",
      );
  });

  it("defines the bearer schemes it refers to", () => {
    expect(doc.components.securitySchemes.rootKey).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.components.securitySchemes.adminToken).toMatchObject({ type: "http", scheme: "bearer" });
  });

  it("makes VerifyCode an enum of the 8 verify codes, and VerifyResult.code refer to it", () => {
    expect(doc.components.schemas.VerifyCode?.enum?.sort()).toEqual(
      [
        "VALID",
        "NOT_FOUND",
        "REVOKED",
        "DISABLED",
        "EXPIRED",
        "INSUFFICIENT_SCOPES",
        "RATE_LIMITED",
        "USAGE_EXCEEDED",
      ].sort(),
    );
    expect(doc.components.schemas.VerifyResult).toMatchObject({
      properties: { code: { $ref: "#/components/schemas/VerifyCode" } },
      required: expect.arrayContaining(["valid", "code"]),
    });
  });

  it("makes Problem.code an enum of the 11 error codes of §6", () => {
    expect(doc.components.schemas.Problem).toMatchObject({
      properties: {
        code: {
          enum: [
            "BAD_REQUEST",
            "VALIDATION_FAILED",
            "UNAUTHORIZED",
            "FORBIDDEN",
            "NOT_FOUND",
            "CONFLICT",
            "PAYLOAD_TOO_LARGE",
            "UNSUPPORTED_MEDIA_TYPE",
            "RATE_LIMITED",
            "INTERNAL",
            "UNAVAILABLE",
          ],
        },
      },
    });
  });

  it("says the latest date-time a request may name, which JSON Schema cannot", () => {
    const LATEST = "at most 9999-12-31T23:59:59.999Z";
    type Described = { description?: string };
    const fields = (name: string) =>
      (doc.components.schemas[name] as { properties: Record<string, Described> }).properties;
    expect(fields("CreateKeyRequest").expiresAt?.description).toContain(LATEST);
    expect(fields("UpdateKeyRequest").expiresAt?.description).toContain(LATEST);
    const usage = operation("get", "/v1/keys/{id}/usage") as unknown as {
      parameters: ({ name: string } & Described)[];
    };
    for (const name of ["from", "to"])
      expect(usage.parameters.find((parameter) => parameter.name === name)?.description, name).toContain(
        LATEST,
      );
  });

  it("describes the Key's nullable fields as nullable and requires them, as they are always sent", () => {
    const key = doc.components.schemas.Key as unknown as {
      properties: Record<string, { type?: string | string[] }>;
      required: string[];
    };
    for (const field of [
      "ownerId",
      "name",
      "expiresAt",
      "revokedAt",
      "revokedReason",
      "lastUsedAt",
      "remaining",
      "refill",
      "ratelimit",
      "rotatedFromId",
      "replacedById",
    ]) {
      expect(key.properties[field]?.type, field).toContain("null");
      expect(key.required, field).toContain(field);
    }
    expect(key.properties).not.toHaveProperty("hash");
    expect(key.properties).not.toHaveProperty("key");
  });
});
