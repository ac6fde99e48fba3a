import { beforeEach, describe, expect, it, vi } from "vitest";
import { createKey, createKeyspace, createTestApp, type TestApp } from "../../helpers.js";
import {
  createWorkspace,
  expectProblem,
  expectStatus,
  expectValidationErrors,
  uniquePrefix,
} from "../../support/api.js";

describe("keyspaces: errors", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });

  it("answers 409 CONFLICT for a prefix already taken", async () => {
    const prefix = uniquePrefix();
    await t.call("POST", "/v1/keyspaces", { body: { name: "one", prefix } });
    const response = await t.call("POST", "/v1/keyspaces", { body: { name: "two", prefix } });
    expectProblem(response, 409, "CONFLICT");
  });

  it("answers 409 CONFLICT for a prefix taken by another workspace: prefixes are unique per deployment", async () => {
    const prefix = uniquePrefix();
    const other = await createWorkspace(t);
    await t.call("POST", "/v1/keyspaces", { body: { name: "theirs", prefix }, token: other.rootKey });
    const response = await t.call("POST", "/v1/keyspaces", { body: { name: "mine", prefix } });
    expectProblem(response, 409, "CONFLICT");
  });

  it("answers 409 CONFLICT, not 500, to the loser of two creates racing for one prefix", async () => {
    const prefix = uniquePrefix();
    // This request finds the prefix free; another create takes it before this one writes.
    const repo = t.deps.repos.keyspaces;
    const find = repo.findByPrefix;
    vi.spyOn(repo, "findByPrefix").mockImplementationOnce(async (asked) => {
      const found = await find(asked);
      expectStatus(await t.call("POST", "/v1/keyspaces", { body: { name: "winner", prefix } }), 201);
      return found;
    });
    const loser = await t.call("POST", "/v1/keyspaces", { body: { name: "loser", prefix } });
    expectProblem(loser, 409, "CONFLICT");
    const listed = (await t.call("GET", "/v1/keyspaces")).body.data;
    expect(listed.map((keyspace: { name: string }) => keyspace.name)).toEqual(["winner"]);
  });

  it("answers 400 for the reserved prefix km_root", async () => {
    const response = await t.call("POST", "/v1/keyspaces", { body: { name: "root", prefix: "km_root" } });
    expectValidationErrors(response, ["prefix"]);
  });

  it("names the reserved prefix beside the body's other bad fields, one entry each", async () => {
    const response = await t.call("POST", "/v1/keyspaces", {
      body: { name: "n".repeat(129), prefix: "km_root" },
    });
    expectValidationErrors(response, ["name", "prefix"]);
  });

  it.each([
    ["an upper-case letter", "Docs"],
    ["a leading digit", "1docs"],
    ["two underscores", "a_b_c"],
    ["a first part over 16 chars", "abcdefghijklmnopq"],
    ["a second part over 16 chars", "docs_abcdefghijklmnopq"],
    ["a trailing underscore", "docs_"],
    ["a hyphen", "doc-s"],
    ["an empty string", ""],
  ])("answers 400 for a prefix with %s", async (_, prefix) => {
    const response = await t.call("POST", "/v1/keyspaces", { body: { name: "bad", prefix } });
    expectValidationErrors(response, ["prefix"]);
  });

  it("reports every bad field of a create, each under its own path", async () => {
    const response = await t.call("POST", "/v1/keyspaces", {
      body: {
        name: "x".repeat(129),
        prefix: "BAD",
        hashAlgorithm: "md5",
        defaults: { ratelimit: { limit: 0, durationMs: 999 }, scopes: ["has space"], colour: "red" },
        extra: true,
      },
    });
    expectValidationErrors(response, [
      "name",
      "prefix",
      "hashAlgorithm",
      "defaults.ratelimit.limit",
      "defaults.ratelimit.durationMs",
      "defaults.scopes.0",
      "defaults.colour",
      "extra",
    ]);
  });

  it("answers 400 when name or prefix is missing", async () => {
    const response = await t.call("POST", "/v1/keyspaces", { body: {} });
    expectValidationErrors(response, ["name", "prefix"]);
  });

  it("answers 400 for unknown fields in a patch, and for a bad default", async () => {
    const created = await t.call("POST", "/v1/keyspaces", { body: { name: "Docs", prefix: uniquePrefix() } });
    const response = await t.call("PATCH", `/v1/keyspaces/${created.body.id}`, {
      body: { prefix: "other", defaults: { expiresInSeconds: 0 } },
    });
    expectValidationErrors(response, ["prefix", "defaults.expiresInSeconds"]);
  });

  it("answers 400 for a default expiresInSeconds over 100 years, which no ISO 8601 time could follow", async () => {
    const response = await t.call("POST", "/v1/keyspaces", {
      body: { name: "forever", prefix: uniquePrefix(), defaults: { expiresInSeconds: 10 ** 12 } },
    });
    expectValidationErrors(response, ["defaults.expiresInSeconds"]);
    // The longest default is taken, and a key created under it gets a time the contract can write.
    const longest = await createKeyspace(t, { defaults: { expiresInSeconds: 100 * 365 * 86_400 } });
    const key = await createKey(t, { keyspaceId: longest.id });
    expect(key.expiresAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it("answers 400 for every bad field of a patch, one entry each, and changes nothing", async () => {
    const created = await t.call("POST", "/v1/keyspaces", {
      body: { name: "Docs", prefix: uniquePrefix(), defaults: { remaining: 10 } },
    });
    const patch = (body: Record<string, unknown>) =>
      t.call("PATCH", `/v1/keyspaces/${created.body.id}`, { body });
    expectValidationErrors(
      await patch({
        name: "n".repeat(129),
        defaults: {
          remaining: -1,
          refill: { amount: 5, interval: "weekly" },
          ratelimit: { limit: 0, durationMs: 999 },
          scopes: ["ok", "no spaces"],
        },
      }),
      [
        "name",
        "defaults.remaining",
        "defaults.refill.interval",
        "defaults.ratelimit.limit",
        "defaults.ratelimit.durationMs",
        "defaults.scopes.1",
      ],
    );
    expectValidationErrors(await patch({ name: "" }), ["name"]);
    expectValidationErrors(await patch({ name: null }), ["name"]);
    expectValidationErrors(await patch({ defaults: { remaining: 2 ** 31 + 1 } }), ["defaults.remaining"]);
    expect((await t.call("GET", `/v1/keyspaces/${created.body.id}`)).body).toStrictEqual(created.body);
  });

  it("answers 404 for an unknown keyspace on get and patch", async () => {
    expectProblem(await t.call("GET", "/v1/keyspaces/ksp_unknown"), 404, "NOT_FOUND");
    expectProblem(
      await t.call("PATCH", "/v1/keyspaces/ksp_unknown", { body: { name: "x" } }),
      404,
      "NOT_FOUND",
    );
  });

  it("does not create a keyspace when the request fails", async () => {
    await t.call("POST", "/v1/keyspaces", { body: { name: "root", prefix: "km_root" } });
    expect((await t.call("GET", "/v1/keyspaces")).body.data).toEqual([]);
  });
});
