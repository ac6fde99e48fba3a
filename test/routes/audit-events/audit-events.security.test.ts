import { beforeEach, describe, expect, it } from "vitest";
import { createKey, createKeyspace, createTestApp, type TestApp } from "../../helpers.js";
import { createRootKey, createWorkspace, expectProblem, expectStatus } from "../../support/api.js";

describe("audit events: security", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });

  it("shows an owner-bound root key only the events about its owner's keys", async () => {
    const keyspaceId = (await createKeyspace(t)).id;
    const alice = await createRootKey(t, ["audit:read", "keys:write"], { ownerId: "alice" });
    const alicesKey = await createKey(t, { keyspaceId, ownerId: "alice" });
    const bobsKey = await createKey(t, { keyspaceId, ownerId: "bob" });
    await t.call("PATCH", `/v1/keys/${alicesKey.id}`, { body: { name: "x" } });
    await t.call("POST", `/v1/keys/${bobsKey.id}/revoke`);
    const response = await t.call("GET", "/v1/audit-events?limit=100", { token: alice.key });
    expectStatus(response, 200);
    // Only key events: not the root_key.create of alice's own root key, though it is bound to alice.
    expect(
      response.body.data.map((event: { action: string; resourceId: string }) => [
        event.action,
        event.resourceId,
      ]),
    ).toEqual([
      ["key.update", alicesKey.id],
      ["key.create", alicesKey.id],
    ]);
    const about = response.body.data.map((event: { resourceId: string }) => event.resourceId);
    expect(about).not.toContain(bobsKey.id);
    expect(about).not.toContain(keyspaceId);
    expect(about).not.toContain(t.workspace.id);
    const bobs = await t.call("GET", `/v1/audit-events?resourceId=${bobsKey.id}`, { token: alice.key });
    expect(bobs.body.data).toEqual([]);
  });

  it("keeps an owner's key events visible to it after the key moves to another owner", async () => {
    const keyspaceId = (await createKeyspace(t)).id;
    const alice = await createRootKey(t, ["audit:read"], { ownerId: "alice" });
    const key = await createKey(t, { keyspaceId, ownerId: "alice" });
    await t.call("PATCH", `/v1/keys/${key.id}`, { body: { ownerId: "bob" } });
    const events = (await t.call("GET", `/v1/audit-events?resourceId=${key.id}`, { token: alice.key })).body
      .data;
    expect(events.map((event: { action: string }) => event.action)).toContain("key.create");
  });

  it("shows the move of a key to another owner to both owners, and what follows only to the new one", async () => {
    const keyspaceId = (await createKeyspace(t)).id;
    const alice = await createRootKey(t, ["audit:read"], { ownerId: "alice" });
    const bob = await createRootKey(t, ["audit:read"], { ownerId: "bob" });
    const key = await createKey(t, { keyspaceId, ownerId: "alice" });
    await t.call("PATCH", `/v1/keys/${key.id}`, { body: { ownerId: "bob", name: "moved" } });
    await t.call("POST", `/v1/keys/${key.id}/revoke`);
    const actionsSeenBy = async (token: string) =>
      (await t.call("GET", `/v1/audit-events?resourceId=${key.id}`, { token })).body.data.map(
        (event: { action: string }) => event.action,
      );
    expect(await actionsSeenBy(alice.key)).toEqual(["key.update", "key.create"]);
    expect(await actionsSeenBy(bob.key)).toEqual(["key.revoke", "key.update"]);
    // The event tells the owner it left which fields changed, not who has the key now.
    const [move] = (await t.call("GET", "/v1/audit-events?action=key.update", { token: alice.key })).body
      .data;
    expect(move.details).toEqual({ fields: ["ownerId", "name"] });
    expect(JSON.stringify(move)).not.toContain("bob");
  });

  it("pages an owner's view, moves away included, newest first without gaps or repeats", async () => {
    const keyspaceId = (await createKeyspace(t)).id;
    const alice = await createRootKey(t, ["audit:read"], { ownerId: "alice" });
    const expected: string[] = [];
    for (let i = 0; i < 3; i++) {
      const kept = await createKey(t, { keyspaceId, ownerId: "alice" });
      const moved = await createKey(t, { keyspaceId, ownerId: "alice" });
      await t.call("PATCH", `/v1/keys/${moved.id}`, { body: { ownerId: "bob" } });
      await t.call("PATCH", `/v1/keys/${kept.id}`, { body: { name: `kept ${i}` } });
      expected.unshift(
        `key.update ${kept.id}`,
        `key.update ${moved.id}`,
        `key.create ${moved.id}`,
        `key.create ${kept.id}`,
      );
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page = (await t.call("GET", `/v1/audit-events?limit=5${query}`, { token: alice.key })).body;
      seen.push(
        ...page.data.map(
          (event: { action: string; resourceId: string }) => `${event.action} ${event.resourceId}`,
        ),
      );
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(expected);
  });

  it("does not show a key.update that keeps the owner to anyone else", async () => {
    const keyspaceId = (await createKeyspace(t)).id;
    const carol = await createRootKey(t, ["audit:read"], { ownerId: "carol" });
    const key = await createKey(t, { keyspaceId, ownerId: "alice" });
    await t.call("PATCH", `/v1/keys/${key.id}`, { body: { ownerId: "alice" } });
    expect((await t.call("GET", "/v1/audit-events", { token: carol.key })).body.data).toEqual([]);
  });

  it("never shows another workspace's events", async () => {
    const other = await createWorkspace(t);
    const theirKeyspace = await createKeyspace(t, {}, other.rootKey);
    const events = (await t.call("GET", "/v1/audit-events?limit=100")).body.data;
    expect(events.every((event: { workspaceId: string }) => event.workspaceId === t.workspace.id)).toBe(true);
    const filtered = await t.call("GET", `/v1/audit-events?resourceId=${theirKeyspace.id}`);
    expect(filtered.body.data).toEqual([]);
  });

  it("answers 403 without audit:read", async () => {
    const writer = await createRootKey(t, ["keys:read", "keys:write", "root_keys:write"]);
    expectProblem(await t.call("GET", "/v1/audit-events", { token: writer.key }), 403, "FORBIDDEN");
  });
});
