import { expect } from "vitest";
import { ERROR_CODES, statusOf } from "../../src/lib/errors.js";
import {
  ADMIN_TOKEN,
  createKey,
  createKeyspace,
  createTestApp,
  ManualClock,
  type TestApp,
} from "../helpers.js";

/** A route of contract §4, its path with `{placeholders}` for the fixture's ids. */
export interface RouteUnderTest {
  method: string;
  path: string;
  /** Takes a JSON body (required or optional). */
  body: boolean;
  auth: "root" | "admin" | "none";
}

export const ROUTES: RouteUnderTest[] = [
  { method: "POST", path: "/v1/admin/workspaces", body: true, auth: "admin" },
  { method: "POST", path: "/v1/keyspaces", body: true, auth: "root" },
  { method: "GET", path: "/v1/keyspaces", body: false, auth: "root" },
  { method: "GET", path: "/v1/keyspaces/{keyspaceId}", body: false, auth: "root" },
  { method: "PATCH", path: "/v1/keyspaces/{keyspaceId}", body: true, auth: "root" },
  { method: "POST", path: "/v1/keys", body: true, auth: "root" },
  { method: "GET", path: "/v1/keys", body: false, auth: "root" },
  { method: "GET", path: "/v1/keys/{keyId}", body: false, auth: "root" },
  { method: "PATCH", path: "/v1/keys/{keyId}", body: true, auth: "root" },
  { method: "POST", path: "/v1/keys/{keyId}/rotate", body: true, auth: "root" },
  { method: "POST", path: "/v1/keys/{keyId}/revoke", body: true, auth: "root" },
  { method: "DELETE", path: "/v1/keys/{keyId}", body: false, auth: "root" },
  { method: "POST", path: "/v1/keys/verify", body: true, auth: "root" },
  { method: "GET", path: "/v1/keys/{keyId}/usage", body: false, auth: "root" },
  { method: "POST", path: "/v1/root-keys", body: true, auth: "root" },
  { method: "GET", path: "/v1/root-keys", body: false, auth: "root" },
  { method: "POST", path: "/v1/root-keys/{rootKeyId}/revoke", body: false, auth: "root" },
  { method: "GET", path: "/v1/audit-events", body: false, auth: "root" },
  { method: "GET", path: "/healthz", body: false, auth: "none" },
  { method: "GET", path: "/readyz", body: false, auth: "none" },
  { method: "GET", path: "/openapi.json", body: false, auth: "none" },
  { method: "GET", path: "/docs", body: false, auth: "none" },
  { method: "GET", path: "/metrics", body: false, auth: "none" },
];

export const BODY_ROUTES = ROUTES.filter((route) => route.body);
export const API_ROUTES = ROUTES.filter((route) => route.auth !== "none");

/** Field names of every request body, so random bodies sometimes hit real fields with wrong values. */
export const FIELD_NAMES = [
  "name",
  "prefix",
  "hashAlgorithm",
  "defaults",
  "expiresInSeconds",
  "keyspaceId",
  "ownerId",
  "meta",
  "scopes",
  "expiresAt",
  "remaining",
  "refill",
  "amount",
  "interval",
  "ratelimit",
  "limit",
  "durationMs",
  "enabled",
  "gracePeriodSeconds",
  "reason",
  "key",
  "cost",
  "permissions",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
];

/** A valid body per body route, to corrupt (invalid UTF-8) or to send with the wrong content type. */
export function validBody(route: RouteUnderTest, f: Fixture): Record<string, unknown> {
  switch (`${route.method} ${route.path}`) {
    case "POST /v1/admin/workspaces":
      return { name: "hostile" };
    case "POST /v1/keyspaces":
      return { name: "hostile", prefix: `h${Math.random().toString(36).slice(2, 10)}` };
    case "PATCH /v1/keyspaces/{keyspaceId}":
      return { name: "renamed" };
    case "POST /v1/keys":
      return { keyspaceId: f.keyspaceId, name: "hostile" };
    case "PATCH /v1/keys/{keyId}":
      return { name: "renamed" };
    case "POST /v1/keys/{keyId}/rotate":
      return { gracePeriodSeconds: 60 };
    case "POST /v1/keys/{keyId}/revoke":
      return { reason: "hostile" };
    case "POST /v1/keys/verify":
      return { key: f.key };
    case "POST /v1/root-keys":
      return { name: "hostile", permissions: ["keys:read"] };
    default:
      return {};
  }
}

export interface Fixture {
  t: TestApp;
  keyspaceId: string;
  keyId: string;
  key: string;
  /** A root key other than the caller's, so that revoking it never locks the test out. */
  rootKeyId: string;
  keysCursor: string;
  auditCursor: string;
}

/** An app with a keyspace, two keys (so lists page), a spare root key and a cursor of each list. */
export async function hostileFixture(): Promise<Fixture> {
  const t = await createTestApp({ clock: new ManualClock() });
  const keyspace = await createKeyspace(t);
  const created = await createKey(t, { keyspaceId: keyspace.id, ownerId: "alice", meta: { plan: "pro" } });
  await createKey(t, { keyspaceId: keyspace.id });
  const spare = await t.call("POST", "/v1/root-keys", {
    body: { name: "spare", permissions: ["keys:read"] },
  });
  const keys = await t.call("GET", "/v1/keys?limit=1");
  const audit = await t.call("GET", "/v1/audit-events?limit=1");
  if (spare.status !== 201 || !keys.body.nextCursor || !audit.body.nextCursor) {
    throw new Error("fixture setup failed");
  }
  return {
    t,
    keyspaceId: keyspace.id,
    keyId: created.id,
    key: created.key,
    rootKeyId: spare.body.id,
    keysCursor: keys.body.nextCursor,
    auditCursor: audit.body.nextCursor,
  };
}

export function pathOf(route: RouteUnderTest, f: Fixture, ids: Partial<Record<string, string>> = {}): string {
  const values: Record<string, string> = {
    keyspaceId: f.keyspaceId,
    keyId: f.keyId,
    rootKeyId: f.rootKeyId,
    ...ids,
  };
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? name);
}

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Which credential to send: the route's own by default. */
  auth?: RouteUnderTest["auth"];
}

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

/** Sends exactly these bytes, with the route's credential. */
export async function send(f: Fixture, request: RawRequest): Promise<RawResponse> {
  const headers: Record<string, string> = { ...request.headers };
  if (request.auth === "root") headers.authorization = `Bearer ${f.t.rootKey}`;
  if (request.auth === "admin") headers.authorization = `Bearer ${ADMIN_TOKEN}`;
  const response = await f.t.app.request(request.path, {
    method: request.method,
    headers,
    body: request.body,
  });
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  return { status: response.status, headers: response.headers, text, body };
}

/**
 * Everything the database holds, but for lastUsedAt (every authenticated call records its root key's
 * use) and after flushing the usage buffer, so a snapshot changes only when a request changed state.
 */
export async function snapshot(f: Fixture): Promise<string> {
  await f.t.deps.usage.flush();
  const sqlite = f.t.db.$client;
  const tables = sqlite
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .all() as { name: string }[];
  const state: Record<string, unknown[]> = {};
  for (const { name } of tables) {
    const rows = sqlite.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all() as Record<string, unknown>[];
    state[name] = rows.map(({ last_used_at: _ignored, ...row }) => row);
  }
  return JSON.stringify(state);
}

const PROBLEM_FIELDS = ["type", "title", "status", "detail", "code", "requestId", "errors"];

/**
 * The invariant every hostile request must keep: never a 5xx; every 4xx is problem+json with exactly
 * the §6 shape; and a refused request changed nothing.
 */
export function expectRefusedCleanly(
  response: RawResponse,
  before: string,
  after: string,
  what: string,
): void {
  const context = `${what} → ${response.status} ${response.text.slice(0, 300)}`;
  expect(response.status, context).toBeLessThan(500);
  if (response.status < 400) return;
  expect(response.headers.get("content-type"), context).toBe("application/problem+json");
  const problem = response.body as Record<string, unknown>;
  expect(problem, context).toBeTypeOf("object");
  expect(
    Object.keys(problem).filter((field) => !PROBLEM_FIELDS.includes(field)),
    context,
  ).toEqual([]);
  const code = problem.code as (typeof ERROR_CODES)[number];
  expect(ERROR_CODES, context).toContain(code);
  expect(statusOf(code), context).toBe(response.status);
  expect(problem, context).toMatchObject({
    type: `https://keymint.dev/problems/${code.toLowerCase().replaceAll("_", "-")}`,
    title: expect.any(String),
    status: response.status,
    detail: expect.any(String),
    requestId: response.headers.get("x-request-id"),
  });
  if (problem.errors !== undefined) {
    expect(problem.errors, context).toEqual(
      expect.arrayContaining([{ path: expect.any(String), message: expect.any(String) }]),
    );
    for (const error of problem.errors as Record<string, unknown>[]) {
      expect(Object.keys(error).sort(), context).toEqual(["message", "path"]);
    }
  }
  expect(after === before, `${context}: a refused request changed the database`).toBe(true);
}
