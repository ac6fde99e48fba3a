import { describe, expect, it } from "vitest";
import { Argon2Queue } from "../../../src/keys/argon2-queue.js";
import { createKeyspace, createTestApp, requestLinesWritten } from "../../helpers.js";

describe("keys: a client that hangs up while its argon2id hash waits for its turn", () => {
  it("gets no hash and no key: the create is dropped and recorded as 499, and the next one runs", async () => {
    const t = await createTestApp();
    const keyspaceId = (await createKeyspace(t, { hashAlgorithm: "argon2id", prefix: "gone" })).id;
    // One argon2 computation at a time, and that one held by the test.
    t.deps.argon2 = new Argon2Queue(1);
    let release = () => {};
    const busy = t.deps.argon2.run(() => new Promise<void>((resolve) => (release = resolve)));

    const client = new AbortController();
    const abandoned = t.app.request("/v1/keys", {
      method: "POST",
      headers: { authorization: `Bearer ${t.rootKey}`, "content-type": "application/json" },
      body: JSON.stringify({ keyspaceId, name: "abandoned" }),
      signal: client.signal,
    });
    const live = t.call("POST", "/v1/keys", { body: { keyspaceId, name: "live" } });
    await new Promise((resolve) => setImmediate(resolve));
    expect(t.deps.argon2.waitingCount).toBe(2);

    client.abort();
    expect((await abandoned).status).toBe(499);
    expect(t.deps.argon2.waitingCount).toBe(1);
    release();
    await busy;
    expect((await live).status).toBe(201);

    const names = (await t.call("GET", `/v1/keys?keyspaceId=${keyspaceId}`)).body.data.map(
      (key: { name: string }) => key.name,
    );
    expect(names).toEqual(["live"]);
    requestLinesWritten(t);
    expect(t.logs.join("\n")).not.toContain("request failed");
    expect(t.logs.some((line) => line.includes('"route":"/v1/keys"') && line.includes('"status":499'))).toBe(
      true,
    );
  });

  it("leaves a key as it was when the rotation's client hangs up, whatever form its empty body took", async () => {
    const t = await createTestApp();
    const keyspaceId = (await createKeyspace(t, { hashAlgorithm: "argon2id", prefix: "gonerot" })).id;
    // No body; an empty body sent as JSON (rebuilt as "{}" before validation); an empty object.
    const forms: { headers: Record<string, string>; body?: string }[] = [
      { headers: {} },
      { headers: { "content-type": "application/json" }, body: "" },
      { headers: { "content-type": "application/json" }, body: "{}" },
    ];
    const keys: { id: string }[] = [];
    for (const _ of forms) keys.push((await t.call("POST", "/v1/keys", { body: { keyspaceId } })).body);
    t.deps.argon2 = new Argon2Queue(1);
    let release = () => {};
    const held = t.deps.argon2.run(() => new Promise<void>((resolve) => (release = resolve)));
    const clients = forms.map(() => new AbortController());
    const rotations = forms.map((form, i) =>
      t.app.request(`/v1/keys/${keys[i]?.id}/rotate`, {
        method: "POST",
        headers: { authorization: `Bearer ${t.rootKey}`, ...form.headers },
        body: form.body,
        signal: clients[i]?.signal,
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(t.deps.argon2.waitingCount).toBe(forms.length);
    for (const client of clients) client.abort();
    await new Promise((resolve) => setImmediate(resolve));
    // Released before the answers are read: a rotation still waiting would now run, and answer 201.
    release();
    await held;
    expect((await Promise.all(rotations)).map((response) => response.status)).toEqual([499, 499, 499]);
    for (const key of keys) {
      const after = (await t.call("GET", `/v1/keys/${key.id}`)).body;
      expect([after.replacedById, after.expiresAt]).toEqual([null, null]);
    }
  });
});
