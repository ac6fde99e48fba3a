import { beforeEach, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, createKey, createKeyspace, createTestApp, type TestApp } from "../helpers.js";
import { expectProblem, expectStatus } from "../support/api.js";

// A method a path does not take is an unknown route: 404 NOT_FOUND (contract §6 has no 405), which
// names the methods the path does take, in its detail and in Allow.
describe("a method a route does not take", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });

  it.each([
    ["PUT", "/v1/keys/{keyId}", "DELETE, GET, HEAD, PATCH"],
    ["POST", "/v1/keys/{keyId}", "DELETE, GET, HEAD, PATCH"],
    ["GET", "/v1/keys/{keyId}/revoke", "POST"],
    ["DELETE", "/v1/keys/{keyId}/rotate", "POST"],
    ["POST", "/v1/keys/{keyId}/usage", "GET, HEAD"],
    ["DELETE", "/v1/keyspaces/{keyspaceId}", "GET, HEAD, PATCH"],
    ["PUT", "/v1/keyspaces", "GET, HEAD, POST"],
    ["DELETE", "/v1/root-keys", "GET, HEAD, POST"],
    ["DELETE", "/v1/audit-events", "GET, HEAD"],
    // verify's own path is also /v1/keys/:id, which takes the other three
    ["PUT", "/v1/keys/verify", "DELETE, GET, HEAD, PATCH, POST"],
  ])(
    "answers %s %s 404 naming the methods it takes (%s), and changes nothing",
    async (method, template, allow) => {
      const keyspace = await createKeyspace(t);
      const key = await createKey(t, { keyspaceId: keyspace.id, name: "original" });
      const path = template.replace("{keyId}", key.id).replace("{keyspaceId}", keyspace.id);
      const eventsBefore = (await t.call("GET", "/v1/audit-events?limit=100")).body.data;
      const body = method === "GET" ? undefined : { name: "changed" };
      const response = await t.call(method, path, { body });
      expectProblem(response, 404, "NOT_FOUND");
      expect(response.body.detail).toBe(`No route takes ${method} here; this path takes ${allow}.`);
      expect(response.headers.get("allow")).toBe(allow);
      expect((await t.call("GET", `/v1/keys/${key.id}`)).body).toMatchObject({
        name: "original",
        revokedAt: null,
      });
      expect((await t.call("GET", "/v1/audit-events?limit=100")).body.data).toEqual(eventsBefore);
    },
  );

  it("names the open routes' methods without credentials", async () => {
    for (const path of ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"]) {
      const response = await t.call("POST", path, { token: null });
      expectProblem(response, 404, "NOT_FOUND");
      expect(response.headers.get("allow")).toBe("GET, HEAD");
    }
  });

  it("tells a caller without a valid root key nothing of /v1's routes: 401, as any /v1 request", async () => {
    const response = await t.call("PUT", "/v1/keys/key_000000000000", { token: null });
    expectProblem(response, 401, "UNAUTHORIZED");
    expect(response.headers.get("allow")).toBeNull();
  });

  it("names the admin route's method only to the admin token, and not at all while the admin routes are off", async () => {
    const withToken = await t.call("GET", "/v1/admin/workspaces", { token: ADMIN_TOKEN });
    expectProblem(withToken, 404, "NOT_FOUND");
    expect(withToken.headers.get("allow")).toBe("POST");
    expectProblem(await t.call("GET", "/v1/admin/workspaces", { token: null }), 401, "UNAUTHORIZED");
    const off = await createTestApp({ config: { KEYMINT_ADMIN_TOKEN: undefined } });
    for (const token of [null, ADMIN_TOKEN]) {
      const response = await off.call("GET", "/v1/admin/workspaces", { token });
      expectProblem(response, 404, "NOT_FOUND");
      expect(response.body.detail).toBe("No such route.");
      expect(response.headers.get("allow")).toBeNull();
    }
  });

  it("answers a path no method takes 404 without Allow", async () => {
    for (const [method, path] of [
      ["GET", "/v1/nothing"],
      ["PUT", "/v1/keys/key_000000000000/nothing"],
      ["GET", "/v1/keys/"],
      ["POST", "/nothing"],
    ] as const) {
      const response = await t.call(method, path);
      expectProblem(response, 404, "NOT_FOUND");
      expect(response.body.detail).toBe("No such route.");
      expect(response.headers.get("allow")).toBeNull();
    }
    expectStatus(await t.call("GET", "/healthz", { token: null }), 200);
  });
});
