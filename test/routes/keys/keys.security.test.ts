import { createHash } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import {
  createKey,
  createKeyspace,
  createTestApp,
  requestLinesWritten,
  type TestApp,
  verify,
} from "../../helpers.js";
import { createRootKey, createWorkspace, expectProblem, expectStatus } from "../../support/api.js";
import { betweenCheckAndWrite } from "../../support/verify.js";

const ids = (body: { data: { id: string }[] }) => body.data.map((key) => key.id);

describe("keys: another workspace's keys", () => {
  let t: TestApp;
  let other: { id: string; rootKey: string };
  let theirs: { id: string; key: string };
  let theirKeyspace: string;
  beforeEach(async () => {
    t = await createTestApp();
    other = await createWorkspace(t);
    theirKeyspace = (await createKeyspace(t, {}, other.rootKey)).id;
    theirs = await createKey(t, { keyspaceId: theirKeyspace, name: "theirs" }, other.rootKey);
  });

  it.each([
    ["GET", ""],
    ["PATCH", ""],
    ["DELETE", ""],
    ["POST", "/rotate"],
    ["POST", "/revoke"],
  ])("answers 404 for %s /v1/keys/:id%s and leaves the key untouched", async (method, suffix) => {
    const body = method === "PATCH" ? { name: "hijacked" } : undefined;
    expectProblem(await t.call(method, `/v1/keys/${theirs.id}${suffix}`, { body }), 404, "NOT_FOUND");
    const still = await t.call("GET", `/v1/keys/${theirs.id}`, { token: other.rootKey });
    expect(still.body).toMatchObject({ name: "theirs", revokedAt: null, replacedById: null });
  });

  it("answers 404 for creating a key in another workspace's keyspace", async () => {
    const response = await t.call("POST", "/v1/keys", { body: { keyspaceId: theirKeyspace } });
    expectProblem(response, 404, "NOT_FOUND");
  });

  it("never lists another workspace's keys, even when filtering by its keyspace", async () => {
    const mine = await createKey(t, { keyspaceId: (await createKeyspace(t)).id });
    expect(ids((await t.call("GET", "/v1/keys?status=all")).body)).toEqual([mine.id]);
    expect(ids((await t.call("GET", `/v1/keys?status=all&keyspaceId=${theirKeyspace}`)).body)).toEqual([]);
  });
});

describe("keys: owner-bound root keys", () => {
  let t: TestApp;
  let keyspaceId: string;
  let alice: { key: string; id: string };
  let alicesKey: { id: string; key: string };
  let bobsKey: { id: string; key: string };
  let unowned: { id: string; key: string };
  beforeEach(async () => {
    t = await createTestApp();
    keyspaceId = (await createKeyspace(t)).id;
    alice = await createRootKey(t, ["keys:read", "keys:write", "keys:verify", "audit:read"], {
      ownerId: "alice",
    });
    alicesKey = await createKey(t, { keyspaceId, ownerId: "alice" });
    bobsKey = await createKey(t, { keyspaceId, ownerId: "bob" });
    unowned = await createKey(t, { keyspaceId });
  });

  /** The workspace gives a key to bob. */
  const moveToBob = async (id: string) => {
    expectStatus(await t.call("PATCH", `/v1/keys/${id}`, { body: { ownerId: "bob" } }), 200);
  };

  it("lists only its owner's keys", async () => {
    const response = await t.call("GET", "/v1/keys?status=all", { token: alice.key });
    expectStatus(response, 200);
    expect(ids(response.body)).toEqual([alicesKey.id]);
  });

  it("answers 403 for listing another owner's keys by ownerId", async () => {
    expectProblem(await t.call("GET", "/v1/keys?ownerId=bob", { token: alice.key }), 403, "FORBIDDEN");
  });

  it("lists its own keys when it filters by its own ownerId", async () => {
    const response = await t.call("GET", "/v1/keys?ownerId=alice", { token: alice.key });
    expect(ids(response.body)).toEqual([alicesKey.id]);
  });

  it.each([
    ["GET", ""],
    ["PATCH", ""],
    ["DELETE", ""],
    ["POST", "/rotate"],
    ["POST", "/revoke"],
    ["GET", "/usage"],
  ])("answers 404 for %s on another owner's key and on an unowned key", async (method, suffix) => {
    const body = method === "PATCH" ? { name: "hijacked" } : undefined;
    for (const victim of [bobsKey, unowned]) {
      const response = await t.call(method, `/v1/keys/${victim.id}${suffix}`, { body, token: alice.key });
      expectProblem(response, 404, "NOT_FOUND");
      const still = await t.call("GET", `/v1/keys/${victim.id}`);
      expect(still.body).toMatchObject({ name: null, revokedAt: null, replacedById: null });
    }
  });

  it.each([
    ["PATCH", "", { name: "alice-was-here", enabled: false }],
    ["POST", "/revoke", { reason: "alice" }],
    ["DELETE", "", undefined],
  ])(
    "answers 404 to %s%s of its key when the workspace moves that key to another owner between the check and the write",
    async (method, suffix, body) => {
      // Alice's request reads the key as hers; the move commits before her write runs.
      betweenCheckAndWrite(t, moveToBob);
      const written = await t.call(method, `/v1/keys/${alicesKey.id}${suffix}`, { body, token: alice.key });
      expectProblem(written, 404, "NOT_FOUND");
      expect((await t.call("GET", `/v1/keys/${alicesKey.id}`)).body).toMatchObject({
        ownerId: "bob",
        name: null,
        enabled: true,
        revokedAt: null,
      });
      const trail = (await t.call("GET", `/v1/audit-events?resourceId=${alicesKey.id}`)).body.data;
      expect(trail.map((event: { action: string }) => event.action)).toEqual(["key.update", "key.create"]);
    },
  );

  it("leaves the rate window of a key its refused DELETE no longer owned", async () => {
    const limited = await createKey(t, {
      keyspaceId,
      ownerId: "alice",
      ratelimit: { limit: 1, durationMs: 60_000 },
    });
    expect((await verify(t, { key: limited.key })).code).toBe("VALID");
    expect((await verify(t, { key: limited.key })).code).toBe("RATE_LIMITED");
    betweenCheckAndWrite(t, moveToBob);
    expectProblem(await t.call("DELETE", `/v1/keys/${limited.id}`, { token: alice.key }), 404, "NOT_FOUND");
    expect((await verify(t, { key: limited.key })).code).toBe("RATE_LIMITED");
  });

  it("files a revocation under the owner the key has when it is revoked, not when it was read", async () => {
    const bob = await createRootKey(t, ["audit:read"], { ownerId: "bob" });
    // The workspace's own revoke reads the key as alice's; a move to bob commits before it writes.
    betweenCheckAndWrite(t, moveToBob);
    expectStatus(await t.call("POST", `/v1/keys/${alicesKey.id}/revoke`), 200);
    const seenBy = async (token: string) =>
      (await t.call("GET", `/v1/audit-events?resourceId=${alicesKey.id}`, { token })).body.data.map(
        (event: { action: string }) => event.action,
      );
    expect(await seenBy(bob.key)).toContain("key.revoke");
    expect(await seenBy(alice.key)).not.toContain("key.revoke");
  });

  it("manages its own owner's keys", async () => {
    expectStatus(await t.call("GET", `/v1/keys/${alicesKey.id}`, { token: alice.key }), 200);
    expectStatus(
      await t.call("PATCH", `/v1/keys/${alicesKey.id}`, { body: { name: "a" }, token: alice.key }),
      200,
    );
    const rotated = await t.call("POST", `/v1/keys/${alicesKey.id}/rotate`, { token: alice.key });
    expectStatus(rotated, 201);
    expect(rotated.body.ownerId).toBe("alice");
    expectStatus(await t.call("POST", `/v1/keys/${rotated.body.id}/revoke`, { token: alice.key }), 200);
    expect((await t.call("DELETE", `/v1/keys/${rotated.body.id}`, { token: alice.key })).status).toBe(204);
  });

  it("gives the keys it creates its ownerId", async () => {
    const response = await t.call("POST", "/v1/keys", { body: { keyspaceId }, token: alice.key });
    expectStatus(response, 201);
    expect(response.body.ownerId).toBe("alice");
    const explicit = await t.call("POST", "/v1/keys", {
      body: { keyspaceId, ownerId: "alice" },
      token: alice.key,
    });
    expect(explicit.body.ownerId).toBe("alice");
  });

  it("answers 403 for creating a key for another owner, or for no owner", async () => {
    for (const ownerId of ["bob", null]) {
      const response = await t.call("POST", "/v1/keys", { body: { keyspaceId, ownerId }, token: alice.key });
      expectProblem(response, 403, "FORBIDDEN");
    }
    expect(ids((await t.call("GET", "/v1/keys?status=all")).body)).toHaveLength(3);
  });

  it("answers 403 for handing its key to another owner or to no owner", async () => {
    for (const ownerId of ["bob", null]) {
      const response = await t.call("PATCH", `/v1/keys/${alicesKey.id}`, {
        body: { ownerId },
        token: alice.key,
      });
      expectProblem(response, 403, "FORBIDDEN");
    }
    expect((await t.call("GET", `/v1/keys/${alicesKey.id}`)).body.ownerId).toBe("alice");
  });

  it("verifies only its owner's keys: another owner's key is NOT_FOUND", async () => {
    const mine = await t.call("POST", "/v1/keys/verify", { body: { key: alicesKey.key }, token: alice.key });
    expect(mine.body.code).toBe("VALID");
    const others = await t.call("POST", "/v1/keys/verify", { body: { key: bobsKey.key }, token: alice.key });
    expect(others.body).toEqual({ valid: false, code: "NOT_FOUND" });
  });
});

describe("keys: no key material after creation", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });

  it("never shows a key's plaintext or hash in a later response, list or audit event", async () => {
    const sha = await createKeyspace(t);
    const argon = await createKeyspace(t, { hashAlgorithm: "argon2id" });
    const created = [
      await createKey(t, { keyspaceId: sha.id, name: "sha" }),
      await createKey(t, { keyspaceId: argon.id, name: "argon" }),
    ];
    const rotated = await t.call("POST", `/v1/keys/${created[0]?.id}/rotate`, {
      body: { gracePeriodSeconds: 60 },
    });
    const secrets = [...created.map((key) => key.key), rotated.body.key as string];
    const hashes = secrets.map((key) => createHash("sha256").update(key).digest("hex"));

    const responses = [
      await t.call("GET", "/v1/keys?status=all"),
      await t.call("GET", `/v1/keys/${created[0]?.id}`),
      await t.call("GET", `/v1/keys/${created[1]?.id}`),
      await t.call("PATCH", `/v1/keys/${created[1]?.id}`, { body: { name: "renamed" } }),
      await t.call("POST", `/v1/keys/${created[1]?.id}/revoke`, { body: { reason: "test" } }),
      await t.call("GET", "/v1/audit-events?limit=100"),
      await t.call("POST", "/v1/keys/verify", { body: { key: secrets[2] } }),
      await t.call("GET", "/v1/keyspaces"),
    ];
    for (const response of responses) {
      expect(response.status).toBe(200);
      for (const secret of [...secrets, ...hashes]) expect(response.text).not.toContain(secret);
      expect(response.text).not.toContain("$argon2");
      expect(response.text).not.toMatch(/"(key|hash)":/);
    }
    requestLinesWritten(t);
    for (const line of t.logs) {
      for (const secret of [...secrets, ...hashes]) expect(line).not.toContain(secret);
    }
  });
});
