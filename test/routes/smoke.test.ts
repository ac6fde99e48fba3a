import { beforeEach, describe, expect, it } from "vitest";
import { createKey, createKeyspace, createTestApp, type TestApp, verify } from "../helpers.js";

describe("create → verify → rotate → revoke", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });

  it("walks a key through its life", async () => {
    const keyspace = await createKeyspace(t);
    const created = await createKey(t, { keyspaceId: keyspace.id, name: "ci" });
    expect(created.key.startsWith(`${keyspace.prefix}_`)).toBe(true);
    expect((await verify(t, { key: created.key })).code).toBe("VALID");

    const rotated = await t.call("POST", `/v1/keys/${created.id}/rotate`, {
      body: { gracePeriodSeconds: 0 },
    });
    expect(rotated.status).toBe(201);
    expect((await verify(t, { key: created.key })).code).toBe("EXPIRED");
    expect((await verify(t, { key: rotated.body.key })).code).toBe("VALID");

    const revoked = await t.call("POST", `/v1/keys/${rotated.body.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect((await verify(t, { key: rotated.body.key })).code).toBe("REVOKED");
  });
});
