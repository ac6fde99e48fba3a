import { createHash } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../helpers.js";
import { createRootKey, createWorkspace, expectProblem, expectStatus } from "../../support/api.js";

const ids = (body: { data: { id: string }[] }) => body.data.map((rootKey) => rootKey.id);

describe("root keys: security", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });

  it("answers 404 for revoking another workspace's root key, which keeps working", async () => {
    const other = await createWorkspace(t);
    const theirs = (await t.call("GET", "/v1/root-keys", { token: other.rootKey })).body.data[0].id;
    expectProblem(await t.call("POST", `/v1/root-keys/${theirs}/revoke`), 404, "NOT_FOUND");
    expectStatus(await t.call("GET", "/v1/root-keys", { token: other.rootKey }), 200);
  });

  it("never lists another workspace's root keys", async () => {
    await createWorkspace(t);
    expect(ids((await t.call("GET", "/v1/root-keys")).body)).toEqual([t.rootKeyId]);
  });

  it("binds the root keys an owner-bound root key creates to its own ownerId", async () => {
    const alice = await createRootKey(t, ["root_keys:write", "keys:read"], { ownerId: "alice" });
    const response = await t.call("POST", "/v1/root-keys", {
      body: { name: "child", permissions: ["keys:read"] },
      token: alice.key,
    });
    expectStatus(response, 201);
    expect(response.body.ownerId).toBe("alice");
    const explicit = await t.call("POST", "/v1/root-keys", {
      body: { name: "child", permissions: ["keys:read"], ownerId: "alice" },
      token: alice.key,
    });
    expect(explicit.body.ownerId).toBe("alice");
  });

  it.each([
    ["another owner", "bob"],
    ["no owner (a workspace-wide key)", null],
  ])("answers 403 when an owner-bound root key creates a root key for %s", async (_, ownerId) => {
    const alice = await createRootKey(t, ["root_keys:write", "keys:read"], { ownerId: "alice" });
    const response = await t.call("POST", "/v1/root-keys", {
      body: { name: "child", permissions: ["keys:read"], ownerId },
      token: alice.key,
    });
    expectProblem(response, 403, "FORBIDDEN");
    const listed = await t.call("GET", "/v1/root-keys");
    expect(listed.body.data.map((key: { name: string }) => key.name)).not.toContain("child");
  });

  it("answers 403 when an owner-bound root key asks for more than it holds", async () => {
    const alice = await createRootKey(t, ["root_keys:write", "keys:read"], { ownerId: "alice" });
    const response = await t.call("POST", "/v1/root-keys", {
      body: { name: "child", permissions: ["keys:write"] },
      token: alice.key,
    });
    expectProblem(response, 403, "FORBIDDEN");
  });

  it("shows an owner-bound root key only its owner's root keys, and lets it revoke only those", async () => {
    const alice = await createRootKey(t, ["root_keys:write", "keys:read"], { ownerId: "alice" });
    const alicesOther = await createRootKey(t, ["keys:read"], { ownerId: "alice" });
    const bobs = await createRootKey(t, ["keys:read"], { ownerId: "bob" });
    const unbound = await createRootKey(t, ["keys:read"]);
    const list = await t.call("GET", "/v1/root-keys", { token: alice.key });
    expect(ids(list.body)).toEqual([alicesOther.id, alice.id]);
    for (const victim of [bobs, unbound, { id: t.rootKeyId }]) {
      expectProblem(
        await t.call("POST", `/v1/root-keys/${victim.id}/revoke`, { token: alice.key }),
        404,
        "NOT_FOUND",
      );
    }
    expectStatus(await t.call("POST", `/v1/root-keys/${alicesOther.id}/revoke`, { token: alice.key }), 200);
  });

  it("never shows a root key's plaintext or hash after creation", async () => {
    const created = await createRootKey(t, ["keys:read"]);
    const responses = [
      await t.call("GET", "/v1/root-keys"),
      await t.call("POST", `/v1/root-keys/${created.id}/revoke`),
      await t.call("GET", "/v1/audit-events"),
    ];
    const hashes = [created.key, t.rootKey].map((key) => createHash("sha256").update(key).digest("hex"));
    for (const response of responses) {
      expect(response.status).toBe(200);
      for (const secret of [created.key, t.rootKey, ...hashes]) expect(response.text).not.toContain(secret);
      expect(response.text).not.toMatch(/"(key|hash)":/);
    }
  });
});
