import { beforeEach, describe, expect, it } from "vitest";
import { createTestApp, ManualClock, type TestApp } from "../../helpers.js";
import { expectStatus, uniquePrefix } from "../../support/api.js";

describe("keyspaces: happy paths", () => {
  let clock: ManualClock;
  let t: TestApp;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
  });

  it("creates a keyspace with sha256 and empty defaults when they are left out", async () => {
    const prefix = uniquePrefix();
    const response = await t.call("POST", "/v1/keyspaces", { body: { name: "Docs", prefix } });
    expectStatus(response, 201);
    expect(response.body).toEqual({
      id: expect.stringMatching(/^ksp_[0-9A-Za-z]+$/),
      workspaceId: t.workspace.id,
      name: "Docs",
      prefix,
      hashAlgorithm: "sha256",
      defaults: {},
      createdAt: "2026-11-27T04:00:00.000Z",
      updatedAt: "2026-11-27T04:00:00.000Z",
    });
  });

  it("creates a keyspace with argon2id, a two-part prefix and every default", async () => {
    const prefix = `${uniquePrefix()}_live`;
    const defaults = {
      expiresInSeconds: 3600,
      remaining: 10,
      refill: { amount: 100, interval: "daily" },
      ratelimit: { limit: 5, durationMs: 1000 },
      scopes: ["documents:read", "documents.write"],
    };
    const response = await t.call("POST", "/v1/keyspaces", {
      body: { name: "Live", prefix, hashAlgorithm: "argon2id", defaults },
    });
    expectStatus(response, 201);
    expect(response.body).toMatchObject({ prefix, hashAlgorithm: "argon2id", defaults });
  });

  it("lists the workspace's keyspaces newest first, even within one millisecond", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await t.call("POST", "/v1/keyspaces", {
        body: { name: `ks${i}`, prefix: uniquePrefix() },
      });
      ids.push(response.body.id);
    }
    const list = await t.call("GET", "/v1/keyspaces");
    expectStatus(list, 200);
    expect(list.body.data.map((keyspace: { id: string }) => keyspace.id)).toEqual(ids.reverse());
  });

  it("lists nothing in a workspace without keyspaces", async () => {
    const list = await t.call("GET", "/v1/keyspaces");
    expectStatus(list, 200);
    expect(list.body).toEqual({ data: [] });
  });

  it("gets a keyspace by id", async () => {
    const created = await t.call("POST", "/v1/keyspaces", { body: { name: "Docs", prefix: uniquePrefix() } });
    const response = await t.call("GET", `/v1/keyspaces/${created.body.id}`);
    expectStatus(response, 200);
    expect(response.body).toEqual(created.body);
  });

  it("renames a keyspace and replaces its defaults, keeping prefix and createdAt", async () => {
    const created = await t.call("POST", "/v1/keyspaces", {
      body: { name: "Docs", prefix: uniquePrefix(), defaults: { remaining: 5, scopes: ["a"] } },
    });
    clock.advance(1000);
    const response = await t.call("PATCH", `/v1/keyspaces/${created.body.id}`, {
      body: { name: "Documents", defaults: { expiresInSeconds: 60 } },
    });
    expectStatus(response, 200);
    expect(response.body).toEqual({
      ...created.body,
      name: "Documents",
      defaults: { expiresInSeconds: 60 },
      updatedAt: "2026-11-27T04:00:01.000Z",
    });
    expect((await t.call("GET", `/v1/keyspaces/${created.body.id}`)).body).toEqual(response.body);
  });

  it("changes nothing on a patch naming no field: no updatedAt, no audit event", async () => {
    const created = await t.call("POST", "/v1/keyspaces", { body: { name: "Docs", prefix: uniquePrefix() } });
    clock.advance(60_000);
    const response = await t.call("PATCH", `/v1/keyspaces/${created.body.id}`, { body: {} });
    expectStatus(response, 200);
    expect(response.body).toEqual(created.body);
    const events = await t.call("GET", `/v1/audit-events?resourceId=${created.body.id}`);
    expect(events.body.data.map((event: { action: string }) => event.action)).toEqual(["keyspace.create"]);
  });

  it("keeps the defaults when a patch only renames", async () => {
    const created = await t.call("POST", "/v1/keyspaces", {
      body: { name: "Docs", prefix: uniquePrefix(), defaults: { remaining: 5 } },
    });
    const response = await t.call("PATCH", `/v1/keyspaces/${created.body.id}`, { body: { name: "Renamed" } });
    expectStatus(response, 200);
    expect(response.body.defaults).toEqual({ remaining: 5 });
  });
});
