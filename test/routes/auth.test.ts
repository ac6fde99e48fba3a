import { beforeEach, describe, expect, it, vi } from "vitest";
import { checksumOf } from "../../src/keys/format.js";
import { createKey, createKeyspace, createTestApp, type TestApp } from "../helpers.js";
import { createRootKey, expectProblem, expectStatus } from "../support/api.js";

describe("root key authentication", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });

  it("answers 401 problem+json without an Authorization header, asking for a Bearer token", async () => {
    const response = await t.call("GET", "/v1/keys", { token: null });
    expectProblem(response, 401, "UNAUTHORIZED");
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="keymint"');
  });

  it.each([
    ["another scheme", (key: string) => `Basic ${key}`],
    ["no key after Bearer", () => "Bearer"],
    ["Bearer and a space only", () => "Bearer "],
    ["a tab after Bearer", (key: string) => `Bearer\t${key}`],
    ["two tokens", (key: string) => `Bearer ${key} ${key}`],
    ["the key alone", (key: string) => key],
  ])("answers 401 for a malformed header: %s", async (_, header) => {
    const response = await t.call("GET", "/v1/keys", {
      token: null,
      headers: { authorization: header(t.rootKey) },
    });
    expectProblem(response, 401, "UNAUTHORIZED");
  });

  it("accepts more than one space before the token (RFC 6750: 1*SP)", async () => {
    const response = await t.call("GET", "/v1/keys", {
      token: null,
      headers: { authorization: `Bearer   ${t.rootKey}` },
    });
    expect(response.status).toBe(200);
  });

  it.each(["bearer", "BEARER"])(
    "accepts the scheme written %s (schemes are case-insensitive)",
    async (scheme) => {
      const response = await t.call("GET", "/v1/keys", {
        token: null,
        headers: { authorization: `${scheme} ${t.rootKey}` },
      });
      expect(response.status).toBe(200);
    },
  );

  it("answers 401 for a well-formed root key that does not exist", async () => {
    const body = `km_root_AAAAAAAAAAAA${"B".repeat(32)}`;
    const unknown = `${body}${checksumOf(body)}`;
    expectProblem(await t.call("GET", "/v1/keys", { token: unknown }), 401, "UNAUTHORIZED");
  });

  it("answers 401 for a root key with a wrong checksum or a changed secret", async () => {
    const last = t.rootKey.at(-1) === "a" ? "b" : "a";
    const lookups = vi.spyOn(t.deps.rootKeyCache, "cached");
    expectProblem(
      await t.call("GET", "/v1/keys", { token: `${t.rootKey.slice(0, -1)}${last}` }),
      401,
      "UNAUTHORIZED",
    );
    // A failed format or checksum is refused before any cache or database access (contract §1).
    expect(lookups).not.toHaveBeenCalled();
    lookups.mockRestore();
    // Same keyId, another secret, valid checksum: found by id, refused by the hash.
    const head = t.rootKey.slice(0, "km_root_".length + 12);
    const forged = `${head}${"z".repeat(32)}`;
    expectProblem(
      await t.call("GET", "/v1/keys", { token: `${forged}${checksumOf(forged)}` }),
      401,
      "UNAUTHORIZED",
    );
  });

  it("answers 401 for an ordinary key presented as a root key", async () => {
    const key = await createKey(t, { keyspaceId: (await createKeyspace(t)).id });
    expectProblem(await t.call("GET", "/v1/keys", { token: key.key }), 401, "UNAUTHORIZED");
  });

  it("answers 401 for a revoked root key, even one used (and cached) just before", async () => {
    const reader = await createRootKey(t, ["keys:read"]);
    expectStatus(await t.call("GET", "/v1/keys", { token: reader.key }), 200);
    await t.call("POST", `/v1/root-keys/${reader.id}/revoke`);
    expectProblem(await t.call("GET", "/v1/keys", { token: reader.key }), 401, "UNAUTHORIZED");
  });

  it("answers 401 before validating the body or finding the resource", async () => {
    expectProblem(await t.call("POST", "/v1/keys", { token: null, body: { nope: 1 } }), 401, "UNAUTHORIZED");
    expectProblem(await t.call("GET", "/v1/keys/key_unknown", { token: null }), 401, "UNAUTHORIZED");
  });

  it("never echoes the presented key in the 401", async () => {
    const response = await t.call("GET", "/v1/keys", {
      headers: { authorization: `Bearer ${t.rootKey}x` },
      token: null,
    });
    expect(response.status).toBe(401);
    expect(response.text).not.toContain(t.rootKey);
  });

  it("answers 401 to every failure, however many (contract §2), while a valid root key still passes", async () => {
    for (let i = 0; i < 100; i++)
      expectProblem(await t.call("GET", "/v1/keys", { token: "wrong" }), 401, "UNAUTHORIZED");
    expectStatus(await t.call("GET", "/v1/keys"), 200);
  });

  it("leaves the open routes open", async () => {
    for (const path of ["/healthz", "/readyz", "/openapi.json", "/docs"]) {
      expect((await t.call("GET", path, { token: null })).status, path).toBe(200);
    }
  });

  it("says in the 401's detail what was wrong: no header, a malformed header, or a root key it does not know", async () => {
    const detailFor = async (authorization: string | undefined) => {
      const response = await t.call("GET", "/v1/keys", {
        token: null,
        headers: authorization === undefined ? {} : { authorization },
      });
      expectProblem(response, 401, "UNAUTHORIZED");
      return response.body.detail;
    };
    expect(await detailFor(undefined)).toBe("Send a root key as Authorization: Bearer <key>.");
    expect(await detailFor(`Basic ${t.rootKey}`)).toBe(
      "The Authorization header must be: Bearer <root key>.",
    );
    expect(await detailFor("Bearer")).toBe("The Authorization header must be: Bearer <root key>.");
    const body = `km_root_AAAAAAAAAAAA${"B".repeat(32)}`;
    expect(await detailFor(`Bearer ${body}${checksumOf(body)}`)).toBe("Unknown or revoked root key.");
  });
});
