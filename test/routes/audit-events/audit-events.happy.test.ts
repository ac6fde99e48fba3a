import { beforeEach, describe, expect, it } from "vitest";
import { createKey, createKeyspace, createTestApp, ManualClock, type TestApp } from "../../helpers.js";
import { createRootKey, expectStatus } from "../../support/api.js";

interface Event {
  id: string;
  action: string;
  resourceId: string;
  requestId: string;
}

describe("audit events: one per change, with actor, request id and resource", () => {
  let clock: ManualClock;
  let t: TestApp;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
  });

  /** Makes one change with a request id of its own and returns the one event it recorded. */
  async function change(requestId: string, method: string, path: string, body?: unknown) {
    const response = await t.call(method, path, { body, headers: { "x-request-id": requestId } });
    expect(response.status, response.text).toBeLessThan(300);
    expect(response.headers.get("x-request-id")).toBe(requestId);
    const events = (await t.call("GET", "/v1/audit-events?limit=100")).body.data as Event[];
    const recorded = events.filter((event) => event.requestId === requestId);
    expect(recorded, `events of ${method} ${path}`).toHaveLength(1);
    return { response, event: recorded[0] as Event & Record<string, unknown> };
  }

  const byRootKey = (t: TestApp) => ({ type: "root_key", id: t.rootKeyId });

  it("records keyspace.create and keyspace.update", async () => {
    const created = await change("req-ksp-create", "POST", "/v1/keyspaces", {
      name: "docs",
      prefix: "audita",
    });
    expect(created.event).toEqual({
      id: expect.stringMatching(/^evt_[0-9A-Za-z]+$/),
      time: "2026-11-27T04:00:00.000Z",
      workspaceId: t.workspace.id,
      actor: byRootKey(t),
      action: "keyspace.create",
      resourceType: "keyspace",
      resourceId: created.response.body.id,
      requestId: "req-ksp-create",
      ip: null,
      details: expect.any(Object),
    });
    clock.advance(1000);
    const updated = await change("req-ksp-update", "PATCH", `/v1/keyspaces/${created.response.body.id}`, {
      name: "documents",
    });
    expect(updated.event).toMatchObject({
      time: "2026-11-27T04:00:01.000Z",
      actor: byRootKey(t),
      action: "keyspace.update",
      resourceType: "keyspace",
      resourceId: created.response.body.id,
    });
  });

  it("records key.create, key.update, key.rotate, key.revoke and key.delete", async () => {
    const keyspaceId = (await createKeyspace(t)).id;
    const created = await change("req-key-create", "POST", "/v1/keys", { keyspaceId, ownerId: "alice" });
    const id = created.response.body.id;
    expect(created.event).toMatchObject({
      actor: byRootKey(t),
      action: "key.create",
      resourceType: "key",
      resourceId: id,
      workspaceId: t.workspace.id,
    });
    const updated = await change("req-key-update", "PATCH", `/v1/keys/${id}`, { name: "renamed" });
    expect(updated.event).toMatchObject({ action: "key.update", resourceType: "key", resourceId: id });
    const rotated = await change("req-key-rotate", "POST", `/v1/keys/${id}/rotate`, {
      gracePeriodSeconds: 60,
    });
    expect(rotated.event).toMatchObject({ action: "key.rotate", resourceType: "key", resourceId: id });
    expect(JSON.stringify(rotated.event.details)).toContain(rotated.response.body.id);
    const newId = rotated.response.body.id;
    const revoked = await change("req-key-revoke", "POST", `/v1/keys/${newId}/revoke`, { reason: "leaked" });
    expect(revoked.event).toMatchObject({ action: "key.revoke", resourceType: "key", resourceId: newId });
    const deleted = await change("req-key-delete", "DELETE", `/v1/keys/${newId}`);
    expect(deleted.event).toMatchObject({ action: "key.delete", resourceType: "key", resourceId: newId });
  });

  it("says in a key's events which keyspace it was created in, why it was revoked and, once deleted, which key it was", async () => {
    const keyspaceId = (await createKeyspace(t)).id;
    const created = await change("req-create", "POST", "/v1/keys", { keyspaceId });
    const id = created.response.body.id;
    expect(created.event.details).toEqual({ keyspaceId });
    const revoked = await change("req-revoke", "POST", `/v1/keys/${id}/revoke`, {
      reason: "leaked in a ticket",
    });
    expect(revoked.event.details).toEqual({ reason: "leaked in a ticket" });
    // After the delete the event is all that is left: its start names the key a user would recognise.
    const deleted = await change("req-delete", "DELETE", `/v1/keys/${id}`);
    expect(deleted.event.details).toEqual({ start: created.response.body.start });
  });

  it("records root_key.create and root_key.revoke", async () => {
    const created = await change("req-rk-create", "POST", "/v1/root-keys", {
      name: "ci",
      permissions: ["keys:read"],
    });
    expect(created.event).toMatchObject({
      actor: byRootKey(t),
      action: "root_key.create",
      resourceType: "root_key",
      resourceId: created.response.body.id,
    });
    const revoked = await change("req-rk-revoke", "POST", `/v1/root-keys/${created.response.body.id}/revoke`);
    expect(revoked.event).toMatchObject({
      action: "root_key.revoke",
      resourceType: "root_key",
      resourceId: created.response.body.id,
    });
  });

  it("records the permissions and owner a root key was created with", async () => {
    const created = await change("req-rk", "POST", "/v1/root-keys", {
      name: "support desk",
      permissions: ["keys:read", "keys:write"],
      ownerId: "alice",
    });
    expect(created.event.details).toEqual({
      name: "support desk",
      permissions: ["keys:read", "keys:write"],
      ownerId: "alice",
    });
  });

  it("records the root key that acted, not the workspace's first one", async () => {
    const writer = await createRootKey(t, ["keyspaces:write"]);
    await t.call("POST", "/v1/keyspaces", {
      body: { name: "docs", prefix: "auditb" },
      token: writer.key,
      headers: { "x-request-id": "by-writer" },
    });
    const events = (await t.call("GET", "/v1/audit-events?action=keyspace.create")).body.data;
    expect(events[0]).toMatchObject({ requestId: "by-writer", actor: { type: "root_key", id: writer.id } });
  });

  it("records no event for a failed or idempotent request", async () => {
    const keyspaceId = (await createKeyspace(t)).id;
    const key = await createKey(t, { keyspaceId });
    await t.call("POST", `/v1/keys/${key.id}/revoke`);
    const before = (await t.call("GET", "/v1/audit-events?limit=100")).body.data.length;
    await t.call("POST", `/v1/keys/${key.id}/revoke`);
    await t.call("POST", `/v1/keys/${key.id}/rotate`);
    await t.call("PATCH", `/v1/keys/${key.id}`, { body: { remaining: -1 } });
    await t.call("POST", "/v1/keyspaces", { body: { name: "x", prefix: "km_root" } });
    expect((await t.call("GET", "/v1/audit-events?limit=100")).body.data).toHaveLength(before);
  });

  it("uses a generated request id when the client sends none, and records it", async () => {
    const response = await t.call("POST", "/v1/keyspaces", { body: { name: "docs", prefix: "auditc" } });
    const requestId = response.headers.get("x-request-id");
    expect(requestId).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
    const events = (await t.call("GET", "/v1/audit-events?action=keyspace.create")).body.data;
    expect(events[0].requestId).toBe(requestId);
  });
});

describe("audit events: filters and pages", () => {
  let t: TestApp;
  let keyspaceId: string;
  beforeEach(async () => {
    t = await createTestApp();
    keyspaceId = (await createKeyspace(t)).id;
  });

  const actions = (body: { data: Event[] }) => body.data.map((event) => event.action);

  it("lists newest first", async () => {
    const key = await createKey(t, { keyspaceId });
    await t.call("PATCH", `/v1/keys/${key.id}`, { body: { name: "x" } });
    await t.call("POST", `/v1/keys/${key.id}/revoke`);
    const response = await t.call("GET", "/v1/audit-events");
    expectStatus(response, 200);
    expect(actions(response.body)).toEqual([
      "key.revoke",
      "key.update",
      "key.create",
      "keyspace.create",
      "root_key.create",
      "workspace.create",
    ]);
    expect(response.body.nextCursor).toBeNull();
  });

  it("filters by resourceId", async () => {
    const key = await createKey(t, { keyspaceId });
    await createKey(t, { keyspaceId });
    await t.call("POST", `/v1/keys/${key.id}/revoke`);
    const response = await t.call("GET", `/v1/audit-events?resourceId=${key.id}`);
    expect(actions(response.body)).toEqual(["key.revoke", "key.create"]);
    expect(response.body.data.every((event: Event) => event.resourceId === key.id)).toBe(true);
  });

  it("filters by action, and by action and resourceId together", async () => {
    const a = await createKey(t, { keyspaceId });
    const b = await createKey(t, { keyspaceId });
    const byAction = await t.call("GET", "/v1/audit-events?action=key.create");
    expect(byAction.body.data.map((event: Event) => event.resourceId)).toEqual([b.id, a.id]);
    const both = await t.call("GET", `/v1/audit-events?action=key.create&resourceId=${a.id}`);
    expect(both.body.data.map((event: Event) => event.resourceId)).toEqual([a.id]);
    expect((await t.call("GET", "/v1/audit-events?action=key.delete")).body.data).toEqual([]);
  });

  it("pages exactly with limit and cursor", async () => {
    for (let i = 0; i < 5; i++) await createKey(t, { keyspaceId });
    const all = (await t.call("GET", "/v1/audit-events?limit=100")).body.data.map((event: Event) => event.id);
    expect(all).toHaveLength(8);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
      const response = await t.call("GET", `/v1/audit-events?limit=3${query}`);
      expectStatus(response, 200);
      seen.push(...response.body.data.map((event: Event) => event.id));
      cursor = response.body.nextCursor;
      pages++;
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(seen).toEqual(all);
  });

  it("pages within a filter", async () => {
    const created: string[] = [];
    for (let i = 0; i < 3; i++) created.push((await createKey(t, { keyspaceId })).id);
    const first = await t.call("GET", "/v1/audit-events?action=key.create&limit=2");
    const second = await t.call(
      "GET",
      `/v1/audit-events?action=key.create&limit=2&cursor=${first.body.nextCursor}`,
    );
    const ids = [...first.body.data, ...second.body.data].map((event: Event) => event.resourceId);
    expect(ids).toEqual([...created].reverse());
    expect(second.body.nextCursor).toBeNull();
  });
});

describe("audit events: the client address behind a trusted proxy", () => {
  it.each([
    ["an IPv4 address", "203.0.113.9, 10.0.0.1", "203.0.113.9"],
    ["an IPv6 address", "2001:db8::1", "2001:db8::1"],
    [
      "text that is no address (a key pasted by a client, kept by an appending proxy)",
      "km_root_x, 10.0.0.1",
      null,
    ],
    ["an IPv4 address with a port", "203.0.113.9:4711", "203.0.113.9"],
    ["an IPv6 address with a port", "[2001:db8::1]:4711", "2001:db8::1"],
    ["an IPv6 address with a zone (free text)", `fe80::1%${"x".repeat(200)}`, null],
  ])(
    "records the first x-forwarded-for entry when it is %s, else the TCP peer's",
    async (_, forwarded, ip) => {
      const t = await createTestApp({ config: { KEYMINT_TRUST_PROXY: true } });
      const created = await t.call("POST", "/v1/keyspaces", {
        body: { name: "docs", prefix: "proxied" },
        headers: { "x-forwarded-for": forwarded },
      });
      expectStatus(created, 201);
      const events = (await t.call("GET", `/v1/audit-events?resourceId=${created.body.id}`)).body.data;
      // In-process there is no TCP peer: its address reads null.
      expect(events).toMatchObject([{ action: "keyspace.create", ip }]);
    },
  );
});
