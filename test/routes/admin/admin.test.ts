import { describe, expect, it } from "vitest";
import { ADMIN_TOKEN, createTestApp } from "../../helpers.js";
import { expectProblem, expectStatus, expectValidationErrors } from "../../support/api.js";

describe("POST /v1/admin/workspaces", () => {
  it("creates a workspace and its * root key: { workspace, rootKey: { key, ...RootKey } }", async () => {
    const t = await createTestApp();
    const response = await t.call("POST", "/v1/admin/workspaces", {
      body: { name: "acme" },
      token: ADMIN_TOKEN,
    });
    expectStatus(response, 201);
    const { workspace, rootKey } = response.body;
    expect(workspace).toEqual({
      id: expect.stringMatching(/^ws_[0-9A-Za-z]+$/),
      name: "acme",
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    expect(rootKey).toEqual({
      key: expect.stringMatching(/^km_root_[0-9A-Za-z]{50}$/),
      id: expect.stringMatching(/^rk_[0-9A-Za-z]{12}$/),
      workspaceId: workspace.id,
      name: expect.any(String),
      start: rootKey.key.slice(0, "km_root_".length + 12),
      last4: rootKey.key.slice(-4),
      permissions: ["*"],
      ownerId: null,
      createdAt: workspace.createdAt,
      revokedAt: null,
      lastUsedAt: null,
    });
    const keyspaces = await t.call("GET", "/v1/keyspaces", { token: rootKey.key });
    expect(keyspaces.body).toEqual({ data: [] });
  });

  it("keeps the first root key's name within 128 chars for a workspace name of 128", async () => {
    const t = await createTestApp();
    const name = "n".repeat(128);
    const response = await t.call("POST", "/v1/admin/workspaces", { body: { name }, token: ADMIN_TOKEN });
    expectStatus(response, 201);
    expect(response.body.workspace.name).toBe(name);
    expect(response.body.rootKey.name.length).toBeLessThanOrEqual(128);
    expect(response.body.rootKey.name).toMatch(/ root key$/);
  });

  it("never cuts the first root key's name inside a character: the 201, the list and the audit event agree", async () => {
    const t = await createTestApp();
    // The emoji (two UTF-16 units) straddles the cut at 119 units.
    const name = `${"a".repeat(118)}😀tail`;
    const response = await t.call("POST", "/v1/admin/workspaces", { body: { name }, token: ADMIN_TOKEN });
    expectStatus(response, 201);
    const expected = `${"a".repeat(118)} root key`;
    expect(response.body.rootKey.name).toBe(expected);
    const listed = await t.call("GET", "/v1/root-keys", { token: response.body.rootKey.key });
    expect(listed.body.data.map((rootKey: { name: string }) => rootKey.name)).toEqual([expected]);
    const events = await t.call("GET", "/v1/audit-events?action=root_key.create", {
      token: response.body.rootKey.key,
    });
    expect(events.body.data.map((event: { details: { name: string } }) => event.details.name)).toEqual([
      expected,
    ]);
  });

  it("keeps a whole character that ends exactly at the cut in the first root key's name", async () => {
    const t = await createTestApp();
    // The emoji (two UTF-16 units) takes units 118 and 119 of the 119 the name may keep.
    const name = `${"a".repeat(117)}😀tail`;
    const response = await t.call("POST", "/v1/admin/workspaces", { body: { name }, token: ADMIN_TOKEN });
    expectStatus(response, 201);
    const expected = `${"a".repeat(117)}😀 root key`;
    expect(expected).toHaveLength(128);
    expect(response.body.rootKey.name).toBe(expected);
    const listed = await t.call("GET", "/v1/root-keys", { token: response.body.rootKey.key });
    expect(listed.body.data.map((rootKey: { name: string }) => rootKey.name)).toEqual([expected]);
  });

  it("records workspace.create and root_key.create with an admin actor", async () => {
    const t = await createTestApp();
    const created = await t.call("POST", "/v1/admin/workspaces", {
      body: { name: "acme" },
      token: ADMIN_TOKEN,
      headers: { "x-request-id": "admin-req-1" },
    });
    const audit = await t.call("GET", "/v1/audit-events", { token: created.body.rootKey.key });
    expect(audit.body.data).toEqual([
      expect.objectContaining({
        action: "root_key.create",
        resourceType: "root_key",
        resourceId: created.body.rootKey.id,
        actor: { type: "admin", id: null },
        requestId: "admin-req-1",
      }),
      expect.objectContaining({
        action: "workspace.create",
        resourceType: "workspace",
        resourceId: created.body.workspace.id,
        workspaceId: created.body.workspace.id,
        actor: { type: "admin", id: null },
        requestId: "admin-req-1",
      }),
    ]);
  });

  it("records the admin's address in workspace.create and root_key.create, as for a root key's changes", async () => {
    const t = await createTestApp({ config: { KEYMINT_TRUST_PROXY: true } });
    const created = await t.call("POST", "/v1/admin/workspaces", {
      body: { name: "acme" },
      token: ADMIN_TOKEN,
      headers: { "x-forwarded-for": "203.0.113.9" },
    });
    expectStatus(created, 201);
    const audit = await t.call("GET", "/v1/audit-events", { token: created.body.rootKey.key });
    expect(audit.body.data).toEqual([
      expect.objectContaining({
        action: "root_key.create",
        actor: { type: "admin", id: null },
        ip: "203.0.113.9",
      }),
      expect.objectContaining({
        action: "workspace.create",
        actor: { type: "admin", id: null },
        ip: "203.0.113.9",
      }),
    ]);
  });

  it("answers 404 on every admin route when KEYMINT_ADMIN_TOKEN is unset", async () => {
    const t = await createTestApp({ config: { KEYMINT_ADMIN_TOKEN: undefined } });
    for (const token of [ADMIN_TOKEN, t.rootKey, null]) {
      const response = await t.call("POST", "/v1/admin/workspaces", { body: { name: "acme" }, token });
      expectProblem(response, 404, "NOT_FOUND");
    }
  });

  it("answers 401 for a wrong, missing or root-key token", async () => {
    const t = await createTestApp();
    for (const token of [`${ADMIN_TOKEN}x`, ADMIN_TOKEN.slice(0, -1), "", t.rootKey, null]) {
      const response = await t.call("POST", "/v1/admin/workspaces", { body: { name: "acme" }, token });
      expectProblem(response, 401, "UNAUTHORIZED");
    }
  });

  it("answers 401 for the token under another scheme", async () => {
    const t = await createTestApp();
    const response = await t.call("POST", "/v1/admin/workspaces", {
      body: { name: "acme" },
      token: null,
      headers: { authorization: `Basic ${ADMIN_TOKEN}` },
    });
    expectProblem(response, 401, "UNAUTHORIZED");
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    ["no name", {}, ["name"]],
    ["an empty name", { name: "" }, ["name"]],
    ["a name over 128 chars", { name: "n".repeat(129) }, ["name"]],
    ["an unknown field", { name: "acme", plan: "pro" }, ["plan"]],
  ])("answers 400 for %s", async (_, body, paths) => {
    const t = await createTestApp();
    expectValidationErrors(await t.call("POST", "/v1/admin/workspaces", { body, token: ADMIN_TOKEN }), paths);
  });

  it("does not accept the admin token on root-key routes", async () => {
    const t = await createTestApp();
    expectProblem(await t.call("GET", "/v1/keys", { token: ADMIN_TOKEN }), 401, "UNAUTHORIZED");
  });
});
