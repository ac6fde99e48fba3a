import { beforeEach, describe, expect, it } from "vitest";
import { PERMISSIONS, type Permission } from "../../src/auth/permissions.js";
import { createKey, createKeyspace, createTestApp, type TestApp } from "../helpers.js";
import { createRootKey, expectProblem } from "../support/api.js";

interface Fixture {
  keyspaceId: string;
  keyId: string;
  key: string;
  rootKeyId: string;
}

interface RouteCase {
  method: string;
  path: (f: Fixture) => string;
  permission: Permission;
  body?: (f: Fixture) => unknown;
  /** The status a root key holding only `permission` gets. */
  success: number;
}

// Every root-key route of contract §4 with the permission it needs.
const ROUTES: RouteCase[] = [
  {
    method: "POST",
    path: () => "/v1/keyspaces",
    permission: "keyspaces:write",
    body: () => ({ name: "x", prefix: `p${Math.random().toString(36).slice(2, 10)}` }),
    success: 201,
  },
  { method: "GET", path: () => "/v1/keyspaces", permission: "keyspaces:read", success: 200 },
  { method: "GET", path: (f) => `/v1/keyspaces/${f.keyspaceId}`, permission: "keyspaces:read", success: 200 },
  {
    method: "PATCH",
    path: (f) => `/v1/keyspaces/${f.keyspaceId}`,
    permission: "keyspaces:write",
    body: () => ({ name: "renamed" }),
    success: 200,
  },
  {
    method: "POST",
    path: () => "/v1/keys",
    permission: "keys:write",
    body: (f) => ({ keyspaceId: f.keyspaceId }),
    success: 201,
  },
  { method: "GET", path: () => "/v1/keys", permission: "keys:read", success: 200 },
  { method: "GET", path: (f) => `/v1/keys/${f.keyId}`, permission: "keys:read", success: 200 },
  {
    method: "PATCH",
    path: (f) => `/v1/keys/${f.keyId}`,
    permission: "keys:write",
    body: () => ({ name: "renamed" }),
    success: 200,
  },
  { method: "POST", path: (f) => `/v1/keys/${f.keyId}/rotate`, permission: "keys:write", success: 201 },
  { method: "POST", path: (f) => `/v1/keys/${f.keyId}/revoke`, permission: "keys:write", success: 200 },
  { method: "DELETE", path: (f) => `/v1/keys/${f.keyId}`, permission: "keys:write", success: 204 },
  {
    method: "POST",
    path: () => "/v1/keys/verify",
    permission: "keys:verify",
    body: (f) => ({ key: f.key }),
    success: 200,
  },
  { method: "GET", path: (f) => `/v1/keys/${f.keyId}/usage`, permission: "keys:read", success: 200 },
  {
    method: "POST",
    path: () => "/v1/root-keys",
    permission: "root_keys:write",
    body: () => ({ name: "x", permissions: ["root_keys:write"] }),
    success: 201,
  },
  { method: "GET", path: () => "/v1/root-keys", permission: "root_keys:write", success: 200 },
  {
    method: "POST",
    path: (f) => `/v1/root-keys/${f.rootKeyId}/revoke`,
    permission: "root_keys:write",
    success: 200,
  },
  { method: "GET", path: () => "/v1/audit-events", permission: "audit:read", success: 200 },
];

describe("permissions: every route needs its own", () => {
  let t: TestApp;
  let fixture: Fixture;
  beforeEach(async () => {
    t = await createTestApp();
    const keyspaceId = (await createKeyspace(t)).id;
    const key = await createKey(t, { keyspaceId, name: "original" });
    const target = await createRootKey(t, ["keys:read"]);
    fixture = { keyspaceId, keyId: key.id, key: key.key, rootKeyId: target.id };
  });

  const label = (route: RouteCase) =>
    `${route.method} ${route.path({ keyspaceId: ":id", keyId: ":id", key: "", rootKeyId: ":id" })}`;

  it.each(ROUTES.map((route) => [label(route), route] as const))(
    "answers 401 to %s with no Authorization header, a malformed one, or a revoked root key, and changes nothing",
    async (_, route) => {
      const revoked = await createRootKey(t, [route.permission]);
      expect((await t.call("POST", `/v1/root-keys/${revoked.id}/revoke`)).status).toBe(200);
      const before = (await t.call("GET", "/v1/audit-events?limit=100")).body.data.length;
      const headers: Record<string, string>[] = [
        {},
        { authorization: `Basic ${t.rootKey}` },
        { authorization: `Bearer ${revoked.key}` },
      ];
      for (const given of headers) {
        const response = await t.call(route.method, route.path(fixture), {
          body: route.body?.(fixture),
          token: null,
          headers: given,
        });
        expectProblem(response, 401, "UNAUTHORIZED");
        expect(response.headers.get("www-authenticate")).toBe('Bearer realm="keymint"');
      }
      expect((await t.call("GET", "/v1/audit-events?limit=100")).body.data.length).toBe(before);
    },
  );

  it.each(ROUTES.map((route) => [label(route), route] as const))(
    "answers 403 to %s for a root key holding every permission but the one it needs, and changes nothing",
    async (_, route) => {
      const others = PERMISSIONS.filter((permission) => permission !== route.permission);
      const lacking = await createRootKey(t, others);
      const before = (await t.call("GET", "/v1/audit-events?limit=100")).body.data.length;
      const response = await t.call(route.method, route.path(fixture), {
        body: route.body?.(fixture),
        token: lacking.key,
      });
      expectProblem(response, 403, "FORBIDDEN");
      expect(response.body.detail).toContain(route.permission);
      expect((await t.call("GET", "/v1/audit-events?limit=100")).body.data.length).toBe(before);
      expect((await t.call("GET", `/v1/keys/${fixture.keyId}`)).body).toMatchObject({
        name: "original",
        revokedAt: null,
        replacedById: null,
      });
    },
  );

  it.each(ROUTES.map((route) => [label(route), route] as const))(
    "answers 403 to %s before looking at the query or the body (unknown query, malformed JSON)",
    async (_, route) => {
      const others = PERMISSIONS.filter((permission) => permission !== route.permission);
      const lacking = await createRootKey(t, others);
      const hasBody = route.method !== "GET" && route.method !== "DELETE";
      const response = await t.call(route.method, `${route.path(fixture)}?bogus=1`, {
        raw: hasBody ? "{not json" : undefined,
        headers: hasBody ? { "content-type": "application/json" } : {},
        token: lacking.key,
      });
      expectProblem(response, 403, "FORBIDDEN");
      const textBody = await t.call(route.method, route.path(fixture), {
        raw: hasBody ? "plain text" : undefined,
        headers: hasBody ? { "content-type": "text/plain" } : {},
        token: lacking.key,
      });
      expectProblem(textBody, 403, "FORBIDDEN");
    },
  );

  it.each(ROUTES.map((route) => [label(route), route] as const))(
    "lets a root key holding only the needed permission call %s",
    async (_, route) => {
      const holder = await createRootKey(t, [route.permission]);
      const response = await t.call(route.method, route.path(fixture), {
        body: route.body?.(fixture),
        token: holder.key,
      });
      expect(response.status, response.text).toBe(route.success);
    },
  );
});
