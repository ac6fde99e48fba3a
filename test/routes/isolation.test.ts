import { beforeAll, describe, expect, it } from "vitest";
import { createKey, createKeyspace, createTestApp, type TestApp } from "../helpers.js";
import { createRootKey, createWorkspace, expectProblem } from "../support/api.js";

// One arrangement, read-only checks: workspace B (created through the admin route) probes workspace A.
describe("workspace isolation: another workspace's resources are 404 and never listed", () => {
  let t: TestApp;
  let b: { id: string; rootKey: string };
  let a: { keyspaceId: string; keyId: string; key: string; rootKeyId: string };
  beforeAll(async () => {
    t = await createTestApp();
    const keyspaceId = (await createKeyspace(t)).id;
    const key = await createKey(t, { keyspaceId, ownerId: "alice" });
    const rootKey = await createRootKey(t, ["keys:read"]);
    a = { keyspaceId, keyId: key.id, key: key.key, rootKeyId: rootKey.id };
    b = await createWorkspace(t, "b");
    await createKeyspace(t, {}, b.rootKey);
  });

  it.each<[label: string, method: string, path: () => string, body: () => unknown]>([
    ["GET /v1/keyspaces/:id", "GET", () => `/v1/keyspaces/${a.keyspaceId}`, () => undefined],
    ["PATCH /v1/keyspaces/:id", "PATCH", () => `/v1/keyspaces/${a.keyspaceId}`, () => ({ name: "x" })],
    ["GET /v1/keys/:id", "GET", () => `/v1/keys/${a.keyId}`, () => undefined],
    ["GET /v1/keys/:id/usage", "GET", () => `/v1/keys/${a.keyId}/usage`, () => undefined],
    ["POST /v1/keys in its keyspace", "POST", () => "/v1/keys", () => ({ keyspaceId: a.keyspaceId })],
  ])("answers 404 to %s of workspace A's resource", async (_, method, path, body) => {
    expectProblem(await t.call(method, path(), { body: body(), token: b.rootKey }), 404, "NOT_FOUND");
  });

  it("lists none of workspace A's keyspaces, keys, root keys or audit events", async () => {
    const keyspaces = (await t.call("GET", "/v1/keyspaces", { token: b.rootKey })).body.data;
    expect(keyspaces.map((keyspace: { id: string }) => keyspace.id)).not.toContain(a.keyspaceId);
    expect(keyspaces).toHaveLength(1);
    expect((await t.call("GET", "/v1/keys?status=all", { token: b.rootKey })).body.data).toEqual([]);
    expect(
      (await t.call("GET", `/v1/keys?status=all&keyspaceId=${a.keyspaceId}`, { token: b.rootKey })).body.data,
    ).toEqual([]);
    expect((await t.call("GET", "/v1/keys?ownerId=alice", { token: b.rootKey })).body.data).toEqual([]);
    const rootKeys = (await t.call("GET", "/v1/root-keys", { token: b.rootKey })).body.data;
    expect(rootKeys).toHaveLength(1);
    expect(rootKeys[0].workspaceId).toBe(b.id);
    const events = (await t.call("GET", "/v1/audit-events?limit=100", { token: b.rootKey })).body.data;
    expect(events.every((event: { workspaceId: string }) => event.workspaceId === b.id)).toBe(true);
    for (const id of [a.keyspaceId, a.keyId, a.rootKeyId]) {
      expect(
        (await t.call("GET", `/v1/audit-events?resourceId=${id}`, { token: b.rootKey })).body.data,
      ).toEqual([]);
    }
  });

  it("verifies workspace A's key as NOT_FOUND", async () => {
    const response = await t.call("POST", "/v1/keys/verify", { body: { key: a.key }, token: b.rootKey });
    expect(response.body).toEqual({ valid: false, code: "NOT_FOUND" });
  });

  it("answers 404 to every change of workspace A's keys and root keys, which stay as they were", async () => {
    const changes = [
      ["PATCH", `/v1/keys/${a.keyId}`, { name: "x" }],
      ["POST", `/v1/keys/${a.keyId}/rotate`, undefined],
      ["POST", `/v1/keys/${a.keyId}/revoke`, undefined],
      ["DELETE", `/v1/keys/${a.keyId}`, undefined],
      ["POST", `/v1/root-keys/${a.rootKeyId}/revoke`, undefined],
      ["POST", `/v1/root-keys/${t.rootKeyId}/revoke`, undefined],
    ] as const;
    for (const [method, path, body] of changes) {
      expectProblem(await t.call(method, path, { body, token: b.rootKey }), 404, "NOT_FOUND");
    }
    expect((await t.call("GET", `/v1/keys/${a.keyId}`)).body).toMatchObject({
      name: null,
      revokedAt: null,
      replacedById: null,
    });
    const rootKeys = (await t.call("GET", "/v1/root-keys")).body.data;
    expect(rootKeys.every((rootKey: { revokedAt: string | null }) => rootKey.revokedAt === null)).toBe(true);
  });
});
