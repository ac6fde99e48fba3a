import { beforeEach, describe, it } from "vitest";
import { createTestApp, type TestApp } from "../../helpers.js";
import { createRootKey, expectProblem, expectValidationErrors } from "../../support/api.js";

describe("root keys: errors", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    ["no name", { permissions: ["keys:read"] }, ["name"]],
    ["a name over 128 chars", { name: "n".repeat(129), permissions: ["keys:read"] }, ["name"]],
    ["no permissions", { name: "x" }, ["permissions"]],
    ["an unknown permission", { name: "x", permissions: ["keys:read", "keys:admin"] }, ["permissions.1"]],
    ["permissions as a string", { name: "x", permissions: "keys:read" }, ["permissions"]],
    [
      "an ownerId over 256 chars",
      { name: "x", permissions: ["keys:read"], ownerId: "o".repeat(257) },
      ["ownerId"],
    ],
    ["an unknown field", { name: "x", permissions: ["keys:read"], workspaceId: "ws_x" }, ["workspaceId"]],
  ])("answers 400 VALIDATION_FAILED for %s", async (_, body, paths) => {
    expectValidationErrors(await t.call("POST", "/v1/root-keys", { body }), paths);
  });

  it.each([["keyspaces:write"], ["*"]])(
    "answers 400 for an owner-bound root key holding %s",
    async (permission) => {
      const response = await t.call("POST", "/v1/root-keys", {
        body: { name: "x", permissions: ["keys:read", permission], ownerId: "alice" },
      });
      expectValidationErrors(response, ["permissions"]);
    },
  );

  it("answers 404 for revoking an unknown root key", async () => {
    expectProblem(await t.call("POST", "/v1/root-keys/rk_unknown/revoke"), 404, "NOT_FOUND");
  });

  it("answers 404 for a revoke with an over-long id, as for any id that names nothing", async () => {
    expectProblem(await t.call("POST", `/v1/root-keys/rk_${"x".repeat(100)}/revoke`), 404, "NOT_FOUND");
  });

  it("answers 403 when a root key asks for a permission it lacks", async () => {
    const delegate = await createRootKey(t, ["root_keys:write", "keys:read"]);
    const response = await t.call("POST", "/v1/root-keys", {
      body: { name: "escalate", permissions: ["keys:read", "keys:write"] },
      token: delegate.key,
    });
    expectProblem(response, 403, "FORBIDDEN");
  });

  it("answers 403 when a root key holding every named permission asks for *", async () => {
    const all = await createRootKey(t, [
      "keyspaces:read",
      "keyspaces:write",
      "keys:read",
      "keys:write",
      "keys:verify",
      "audit:read",
      "root_keys:write",
    ]);
    const response = await t.call("POST", "/v1/root-keys", {
      body: { name: "star", permissions: ["*"] },
      token: all.key,
    });
    expectProblem(response, 403, "FORBIDDEN");
  });
});
