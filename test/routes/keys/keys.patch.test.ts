import { beforeEach, describe, expect, it } from "vitest";
import { createKey, createKeyspace, createTestApp, type TestApp } from "../../helpers.js";

// Contract §4: PATCH replaces meta and scopes whole, and null clears a nullable field (in storage too).
describe("PATCH /v1/keys/:id: replacing and clearing", () => {
  let t: TestApp;
  let keyspaceId: string;
  beforeEach(async () => {
    t = await createTestApp();
    keyspaceId = (await createKeyspace(t)).id;
  });

  it("replaces meta whole: fields the new value does not hold are gone", async () => {
    const key = await createKey(t, { keyspaceId, meta: { plan: "pro", region: "eu" } });
    const patched = await t.call("PATCH", `/v1/keys/${key.id}`, { body: { meta: { tier: 2 } } });
    expect(patched.status).toBe(200);
    expect(patched.body.meta).toEqual({ tier: 2 });
    expect((await t.call("GET", `/v1/keys/${key.id}`)).body.meta).toEqual({ tier: 2 });
    const emptied = await t.call("PATCH", `/v1/keys/${key.id}`, { body: { meta: {} } });
    expect(emptied.body.meta).toEqual({});
  });

  it("clears both halves of a rate limit on ratelimit: null, so that no stale rule stays stored", async () => {
    const key = await createKey(t, { keyspaceId, ratelimit: { limit: 5, durationMs: 60_000 } });
    const patched = await t.call("PATCH", `/v1/keys/${key.id}`, { body: { ratelimit: null } });
    expect(patched.status).toBe(200);
    expect(patched.body.ratelimit).toBeNull();
    // The answer would read null with either half left: the row shows what is stored.
    const row = await t.deps.repos.keys.findById(key.id);
    expect([row?.ratelimitLimit, row?.ratelimitDurationMs]).toEqual([null, null]);
  });
});
