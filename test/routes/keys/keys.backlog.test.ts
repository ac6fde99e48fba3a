import { beforeEach, describe, expect, it } from "vitest";
import { createKey, createKeyspace, createTestApp, type TestApp, verify } from "../../helpers.js";
import { createWorkspace } from "../../support/api.js";
import { waitFor } from "../../support/ops.js";
import { deferred, totalChanges } from "../../support/verify.js";

/*
 * Argon2 work that would wait longer than KEYMINT_ARGON2_MAX_WAIT_MS for its turn is refused at once:
 * 503 UNAVAILABLE with a Retry-After, nothing written, nothing cached. Here the limit is 0, so any
 * argon2 work that cannot start at once is refused; the tests hold every turn to make it wait.
 */

let t: TestApp;
let keyspaceId: string;

beforeEach(async () => {
  // Two at a time, whatever this machine's default: the queue runs what the setting says.
  t = await createTestApp({ config: { KEYMINT_ARGON2_MAX_WAIT_MS: 0, KEYMINT_ARGON2_CONCURRENCY: 2 } });
  keyspaceId = (await createKeyspace(t, { hashAlgorithm: "argon2id", prefix: "busy" })).id;
});

/** Takes every turn the app's argon2 queue has; the returned function gives them back. */
function holdEveryTurn(): () => Promise<void> {
  const held = deferred();
  const turns = Array.from({ length: t.deps.config.KEYMINT_ARGON2_CONCURRENCY }, () =>
    t.deps.argon2.run(() => held.promise),
  );
  return async () => {
    held.resolve();
    await Promise.all(turns);
  };
}

function expectBacklogRefusal(response: { status: number; headers: Headers; body: unknown }) {
  expect(response.status).toBe(503);
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  expect(response.headers.get("retry-after")).toMatch(/^[1-9][0-9]*$/);
  expect(response.body).toMatchObject({
    status: 503,
    code: "UNAVAILABLE",
    detail: "Too many argon2 hashes are waiting for their turn; try again.",
  });
}

describe("argon2 work over the waiting limit", () => {
  it("refuses a create: 503 with Retry-After, no key, no audit event; the same create succeeds once there is room", async () => {
    const release = holdEveryTurn();
    const changesBefore = totalChanges(t);

    const refused = await t.call("POST", "/v1/keys", { body: { keyspaceId, name: "refused" } });
    expectBacklogRefusal(refused);
    expect(totalChanges(t)).toBe(changesBefore);
    const keys = await t.call("GET", `/v1/keys?keyspaceId=${keyspaceId}`);
    expect(keys.body.data).toEqual([]);

    await release();
    const created = await t.call("POST", "/v1/keys", { body: { keyspaceId, name: "refused" } });
    expect(created.status).toBe(201);
  });

  it("refuses a rotation: the key keeps working and is not replaced", async () => {
    const key = await createKey(t, { keyspaceId });
    const release = holdEveryTurn();

    const refused = await t.call("POST", `/v1/keys/${key.id}/rotate`, { body: {} });
    expectBacklogRefusal(refused);
    await release();
    const stored = await t.call("GET", `/v1/keys/${key.id}`);
    expect(stored.body.replacedById).toBeNull();
    expect(await verify(t, { key: key.key })).toMatchObject({ valid: true, code: "VALID" });
  });

  it("refuses a cold verify without caching the refusal: the next verify hashes and answers VALID", async () => {
    const key = await createKey(t, { keyspaceId });
    t.deps.keyCache.clear();
    const release = holdEveryTurn();

    const refused = await t.call("POST", "/v1/keys/verify", { body: { key: key.key } });
    expectBacklogRefusal(refused);
    await release();
    expect(await verify(t, { key: key.key })).toMatchObject({ valid: true, code: "VALID", keyId: key.id });
  });

  it("never refuses a cached verify: it does no argon2 work", async () => {
    const key = await createKey(t, { keyspaceId });
    expect(await verify(t, { key: key.key })).toMatchObject({ code: "VALID" });
    const release = holdEveryTurn();
    expect(await verify(t, { key: key.key })).toMatchObject({ code: "VALID" });
    await release();
  });
});

describe("argon2 work of workspaces that share a full waiting list", () => {
  it("lets another workspace's create in past one workspace's flood, in place of the flood's newest", async () => {
    // 300 ms, with a computation taken to cost 100 ms until one is timed: 3 rounds of the queue may wait.
    t = await createTestApp({ config: { KEYMINT_ARGON2_MAX_WAIT_MS: 300, KEYMINT_ARGON2_CONCURRENCY: 2 } });
    const floodKeyspace = (await createKeyspace(t, { hashAlgorithm: "argon2id", prefix: "flood" })).id;
    const otherRootKey = (await createWorkspace(t)).rootKey;
    const otherKeyspace = (
      await createKeyspace(t, { hashAlgorithm: "argon2id", prefix: "other" }, otherRootKey)
    ).id;
    const room = 3 * t.deps.config.KEYMINT_ARGON2_CONCURRENCY;
    const release = holdEveryTurn();
    let answered = 0;
    const create = (keyspaceId: string, token?: string) =>
      t.call("POST", "/v1/keys", { body: { keyspaceId }, token }).then((response) => {
        answered++;
        return response;
      });

    // The flood fills the list, and its one more is refused.
    const flood = Array.from({ length: room + 1 }, () => create(floodKeyspace));
    await waitFor(() => t.deps.argon2.waitingCount === room && answered === 1, "the flood to fill the list");
    // The other workspace's create takes the place of the flood's newest, which is refused.
    const other = create(otherKeyspace, otherRootKey);
    await waitFor(() => answered === 2, "the flood's newest to be refused");
    expect(t.deps.argon2.waitingCount).toBe(room);

    await release();
    expect((await other).status).toBe(201);
    const statuses = (await Promise.all(flood)).map((response) => response.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(room - 1);
    expect(statuses.filter((status) => status === 503)).toHaveLength(2);
  });
});
