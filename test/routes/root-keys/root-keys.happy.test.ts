import { beforeEach, describe, expect, it } from "vitest";
import { createTestApp, ManualClock, type TestApp } from "../../helpers.js";
import { createRootKey, expectProblem, expectStatus } from "../../support/api.js";
import { betweenCheckAndWrite } from "../../support/verify.js";

const NOW = "2026-11-27T04:00:00.000Z";

describe("root keys: happy paths", () => {
  let clock: ManualClock;
  let t: TestApp;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
  });

  it("creates a root key and returns its plaintext once", async () => {
    const response = await t.call("POST", "/v1/root-keys", {
      body: { name: "ci", permissions: ["keys:read", "keys:verify"] },
    });
    expectStatus(response, 201);
    const { key, ...rest } = response.body;
    expect(key).toMatch(/^km_root_[0-9A-Za-z]{50}$/);
    const keyId = key.slice("km_root_".length, "km_root_".length + 12);
    expect(rest).toEqual({
      id: `rk_${keyId}`,
      workspaceId: t.workspace.id,
      name: "ci",
      start: `km_root_${keyId}`,
      last4: key.slice(-4),
      permissions: ["keys:read", "keys:verify"],
      ownerId: null,
      createdAt: NOW,
      revokedAt: null,
      lastUsedAt: null,
    });
  });

  it("gives the new root key exactly its permissions", async () => {
    const reader = await createRootKey(t, ["keys:read"]);
    expectStatus(await t.call("GET", "/v1/keys", { token: reader.key }), 200);
    expectProblem(await t.call("GET", "/v1/keyspaces", { token: reader.key }), 403, "FORBIDDEN");
  });

  it("lets a * root key create another * root key", async () => {
    const response = await t.call("POST", "/v1/root-keys", { body: { name: "admin", permissions: ["*"] } });
    expectStatus(response, 201);
    expect(response.body.permissions).toEqual(["*"]);
  });

  it("lets a root key grant a subset of its own permissions, root_keys:write included", async () => {
    const delegate = await createRootKey(t, ["root_keys:write", "keys:read", "keys:write"]);
    const response = await t.call("POST", "/v1/root-keys", {
      body: { name: "narrower", permissions: ["keys:read", "root_keys:write"] },
      token: delegate.key,
    });
    expectStatus(response, 201);
  });

  it("stores each permission once", async () => {
    const response = await t.call("POST", "/v1/root-keys", {
      body: { name: "dup", permissions: ["keys:read", "keys:read"] },
    });
    expect(response.body.permissions).toEqual(["keys:read"]);
  });

  it("lists the workspace's root keys newest first, without plaintext", async () => {
    const first = await createRootKey(t, ["keys:read"]);
    const second = await createRootKey(t, ["audit:read"], { ownerId: "alice" });
    const response = await t.call("GET", "/v1/root-keys");
    expectStatus(response, 200);
    expect(response.body.data.map((rootKey: { id: string }) => rootKey.id)).toEqual([
      second.id,
      first.id,
      t.rootKeyId,
    ]);
    expect(response.body.data[1]).toEqual({
      id: first.id,
      workspaceId: t.workspace.id,
      name: "test",
      start: first.key.slice(0, "km_root_".length + 12),
      last4: first.key.slice(-4),
      permissions: ["keys:read"],
      ownerId: null,
      createdAt: NOW,
      revokedAt: null,
      lastUsedAt: null,
    });
    expect(response.body.data[0].ownerId).toBe("alice");
  });

  it("records when a root key was last used", async () => {
    const reader = await createRootKey(t, ["keys:read"]);
    clock.advance(3000);
    await t.call("GET", "/v1/keys", { token: reader.key });
    const list = await t.call("GET", "/v1/root-keys");
    const listed = list.body.data.find((rootKey: { id: string }) => rootKey.id === reader.id);
    expect(listed.lastUsedAt).toBe("2026-11-27T04:00:03.000Z");
  });

  it("never moves a root key's lastUsedAt back when the clock steps back between two writes of it", async () => {
    const reader = await createRootKey(t, ["keys:read"]);
    clock.advance(10_000);
    expectStatus(await t.call("GET", "/v1/keys", { token: reader.key }), 200);
    await t.deps.usage.flushAll();
    clock.advance(-5000); // an NTP step back
    expectStatus(await t.call("GET", "/v1/keys", { token: reader.key }), 200);
    await t.deps.usage.flushAll();
    const listed = (await t.call("GET", "/v1/root-keys")).body.data;
    expect(listed.find((rootKey: { id: string }) => rootKey.id === reader.id).lastUsedAt).toBe(
      "2026-11-27T04:00:10.000Z",
    );
  });

  it("answers a revocation with the root key's last use, however recent", async () => {
    const reader = await createRootKey(t, ["keys:read"]);
    clock.advance(3000);
    await t.call("GET", "/v1/keys", { token: reader.key });
    clock.advance(1);
    const revoked = await t.call("POST", `/v1/root-keys/${reader.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.lastUsedAt).toBe("2026-11-27T04:00:03.000Z");
  });

  it("revokes a root key: it is answered 401 on its very next request", async () => {
    const reader = await createRootKey(t, ["keys:read"]);
    expectStatus(await t.call("GET", "/v1/keys", { token: reader.key }), 200);
    clock.advance(1000);
    const response = await t.call("POST", `/v1/root-keys/${reader.id}/revoke`);
    expectStatus(response, 200);
    expect(response.body).toMatchObject({ id: reader.id, revokedAt: "2026-11-27T04:00:01.000Z" });
    expect(response.body.key).toBeUndefined();
    expectProblem(await t.call("GET", "/v1/keys", { token: reader.key }), 401, "UNAUTHORIZED");
  });

  it("revokes idempotently: a second call answers the first revokedAt", async () => {
    const reader = await createRootKey(t, ["keys:read"]);
    const first = await t.call("POST", `/v1/root-keys/${reader.id}/revoke`);
    clock.advance(60_000);
    const second = await t.call("POST", `/v1/root-keys/${reader.id}/revoke`);
    expectStatus(second, 200);
    expect(second.body).toEqual(first.body);
  });

  it("revokes once when two revocations race: the later one answers the first revokedAt and records no event", async () => {
    const reader = await createRootKey(t, ["keys:read"]);
    // This request reads the root key as not revoked; another revocation commits before its write runs.
    let raced = false;
    betweenCheckAndWrite(
      t,
      async (id) => {
        raced = id === reader.id;
        clock.advance(1000);
        expectStatus(await t.call("POST", `/v1/root-keys/${reader.id}/revoke`), 200);
        clock.advance(1000);
      },
      { repo: "rootKeys" },
    );
    const later = await t.call("POST", `/v1/root-keys/${reader.id}/revoke`);
    expectStatus(later, 200);
    expect(raced).toBe(true);
    expect(later.body.revokedAt).toBe("2026-11-27T04:00:01.000Z");
    const listed = (await t.call("GET", "/v1/root-keys")).body.data;
    expect(listed.find((rootKey: { id: string }) => rootKey.id === reader.id).revokedAt).toBe(
      "2026-11-27T04:00:01.000Z",
    );
    const events = (await t.call("GET", `/v1/audit-events?resourceId=${reader.id}&action=root_key.revoke`))
      .body.data;
    expect(events).toHaveLength(1);
  });

  it("creates a root key with no permissions (any subset, §2), refused on every guarded route", async () => {
    const response = await t.call("POST", "/v1/root-keys", { body: { name: "nothing", permissions: [] } });
    expectStatus(response, 201);
    expect(response.body.permissions).toEqual([]);
    const token = response.body.key as string;
    expectProblem(await t.call("GET", "/v1/keys", { token }), 403, "FORBIDDEN");
    expectProblem(await t.call("GET", "/v1/root-keys", { token }), 403, "FORBIDDEN");
  });

  it("takes ownerId: null on create as bound to no owner, as a key does", async () => {
    const response = await t.call("POST", "/v1/root-keys", {
      body: { name: "unbound", permissions: ["keys:read"], ownerId: null },
    });
    expectStatus(response, 201);
    expect(response.body.ownerId).toBeNull();
  });

  it("lets a root key revoke itself, after which it is refused", async () => {
    const self = await createRootKey(t, ["root_keys:write"]);
    expectStatus(await t.call("POST", `/v1/root-keys/${self.id}/revoke`, { token: self.key }), 200);
    expectProblem(await t.call("GET", "/v1/root-keys", { token: self.key }), 401, "UNAUTHORIZED");
  });
});
