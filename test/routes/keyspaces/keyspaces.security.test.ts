import { beforeEach, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../helpers.js";
import {
  createRootKey,
  createWorkspace,
  expectProblem,
  expectStatus,
  uniquePrefix,
} from "../../support/api.js";

describe("keyspaces: security", () => {
  let t: TestApp;
  let other: { id: string; rootKey: string };
  let theirs: string;
  beforeEach(async () => {
    t = await createTestApp();
    other = await createWorkspace(t);
    const created = await t.call("POST", "/v1/keyspaces", {
      body: { name: "theirs", prefix: uniquePrefix() },
      token: other.rootKey,
    });
    theirs = created.body.id;
  });

  it("answers 404 for another workspace's keyspace on get", async () => {
    expectProblem(await t.call("GET", `/v1/keyspaces/${theirs}`), 404, "NOT_FOUND");
  });

  it("answers 404 for another workspace's keyspace on patch, and leaves it unchanged", async () => {
    expectProblem(
      await t.call("PATCH", `/v1/keyspaces/${theirs}`, { body: { name: "hijacked" } }),
      404,
      "NOT_FOUND",
    );
    const still = await t.call("GET", `/v1/keyspaces/${theirs}`, { token: other.rootKey });
    expect(still.body.name).toBe("theirs");
  });

  it("does not list another workspace's keyspaces", async () => {
    const mine = await t.call("POST", "/v1/keyspaces", { body: { name: "mine", prefix: uniquePrefix() } });
    const list = await t.call("GET", "/v1/keyspaces");
    expect(list.body.data.map((keyspace: { id: string }) => keyspace.id)).toEqual([mine.body.id]);
  });

  it("lets a keyspaces:read root key list and get but not create or patch", async () => {
    const mine = await t.call("POST", "/v1/keyspaces", { body: { name: "mine", prefix: uniquePrefix() } });
    const reader = await createRootKey(t, ["keyspaces:read"]);
    expectStatus(await t.call("GET", "/v1/keyspaces", { token: reader.key }), 200);
    expectStatus(await t.call("GET", `/v1/keyspaces/${mine.body.id}`, { token: reader.key }), 200);
    expectProblem(
      await t.call("POST", "/v1/keyspaces", {
        body: { name: "x", prefix: uniquePrefix() },
        token: reader.key,
      }),
      403,
      "FORBIDDEN",
    );
    expectProblem(
      await t.call("PATCH", `/v1/keyspaces/${mine.body.id}`, { body: { name: "x" }, token: reader.key }),
      403,
      "FORBIDDEN",
    );
  });

  it("lets an owner-bound root key read keyspaces", async () => {
    const mine = await t.call("POST", "/v1/keyspaces", { body: { name: "mine", prefix: uniquePrefix() } });
    const owner = await createRootKey(t, ["keyspaces:read", "keys:read"], { ownerId: "customer_1" });
    const list = await t.call("GET", "/v1/keyspaces", { token: owner.key });
    expectStatus(list, 200);
    expect(list.body.data.map((keyspace: { id: string }) => keyspace.id)).toEqual([mine.body.id]);
  });
});
