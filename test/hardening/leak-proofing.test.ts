import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { checksumOf } from "../../src/keys/format.js";
import { sha256Hex } from "../../src/keys/hash.js";
import {
  ADMIN_TOKEN,
  type ApiResponse,
  createKey,
  createKeyspace,
  createTestApp,
  requestLinesWritten,
  type TestApp,
} from "../helpers.js";
import { expectValidationErrors } from "../support/api.js";
import { totalChanges } from "../support/verify.js";

/*
 * No plaintext key, key hash (hex SHA-256 or argon2 PHC string), root key, admin token or metrics
 * token appears in a log line, an error body, an audit event or any response but the one creating
 * that key, across every route: successes, validation errors fed the secrets themselves, and 500s.
 * The app under test logs through a bare pino (createTestApp): no redaction or scrubbing of the
 * production logger helps here, so this checks what the code itself writes.
 */

const METRICS_TOKEN = "metrics-token-0123456789abcdef";

interface Secret {
  label: string;
  value: string;
}

let t: TestApp;
let secrets: Secret[];
/** Every response seen, with the plaintext it was allowed to show (its own new key), if any. */
let responses: { what: string; text: string; headers: string; mayShow: string | null }[];

beforeEach(async () => {
  t = await createTestApp({ config: { KEYMINT_METRICS_TOKEN: METRICS_TOKEN } });
  secrets = [
    { label: "admin token", value: ADMIN_TOKEN },
    { label: "metrics token", value: METRICS_TOKEN },
  ];
  responses = [];
  await addKeySecrets("the test's root key", t.rootKey, "root_keys", t.rootKeyId);
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** A key's plaintext, its secret part, the SHA-256 of it (the cache key) and its stored hash. */
async function addKeySecrets(label: string, key: string, table: "keys" | "root_keys", id: string) {
  const row = t.db.$client.prepare(`SELECT hash FROM ${table} WHERE id = ?`).get(id) as { hash: string };
  secrets.push(
    { label: `${label}: plaintext`, value: key },
    { label: `${label}: secret part`, value: key.slice(-38, -6) },
    { label: `${label}: sha256`, value: sha256Hex(key) },
    { label: `${label}: stored hash`, value: row.hash },
  );
  // The argon2 PHC string's salt and digest, each on its own.
  if (row.hash.startsWith("$argon2")) {
    for (const part of row.hash.split("$").slice(-2))
      secrets.push({ label: `${label}: argon2 part`, value: part });
  }
}

async function call(
  method: string,
  path: string,
  init: Parameters<TestApp["call"]>[2] & { creates?: "keys" | "root_keys" | "workspace" } = {},
): Promise<ApiResponse> {
  const response = await t.call(method, path, init);
  let mayShow: string | null = null;
  if (init.creates && response.status === 201) {
    const created = init.creates === "workspace" ? response.body.rootKey : response.body;
    mayShow = created.key;
    const table = init.creates === "keys" ? "keys" : "root_keys";
    await addKeySecrets(`${method} ${path}`, created.key, table, created.id);
  }
  responses.push({
    what: `${method} ${path} → ${response.status}`,
    text: response.text,
    headers: JSON.stringify([...response.headers.entries()]),
    mayShow,
  });
  return response;
}

function leaksIn(text: string, allowed: string | null = null): string[] {
  return secrets
    .filter((secret) => secret.value.length > 0)
    .filter((secret) => {
      // The creating response shows its own key (and so its secret part), nothing else.
      if (allowed?.includes(secret.value) && secret.label.match(/plaintext|secret part/)) {
        return text.replaceAll(allowed, "").includes(secret.value);
      }
      return text.includes(secret.value);
    })
    .map((secret) => secret.label);
}

/** Checks every response, log line and audit event collected so far. */
async function expectNoLeaks(): Promise<void> {
  const found: string[] = [];
  for (const response of responses) {
    for (const label of leaksIn(response.text, response.mayShow))
      found.push(`${response.what} body: ${label}`);
    for (const label of leaksIn(response.headers)) found.push(`${response.what} headers: ${label}`);
  }
  requestLinesWritten(t);
  for (const line of t.logs)
    for (const label of leaksIn(line)) found.push(`log ${line.slice(0, 120)}: ${label}`);
  const audit = JSON.stringify(t.db.$client.prepare("SELECT * FROM audit_events").all());
  for (const label of leaksIn(audit)) found.push(`audit_events table: ${label}`);
  expect(found, found.join("\n")).toEqual([]);
  expect(t.logs.length).toBeGreaterThan(0);
}

/** Sets up one of everything through the API, recording every secret created. */
async function everyResource() {
  const workspace = await call("POST", "/v1/admin/workspaces", {
    body: { name: "other" },
    token: ADMIN_TOKEN,
    creates: "workspace",
  });
  expect(workspace.status).toBe(201);
  const fast = await call("POST", "/v1/keyspaces", { body: { name: "fast", prefix: "leakfast" } });
  const slow = await call("POST", "/v1/keyspaces", {
    body: { name: "slow", prefix: "leakslow", hashAlgorithm: "argon2id" },
  });
  const key = await call("POST", "/v1/keys", {
    body: { keyspaceId: fast.body.id, name: "fast", scopes: ["read"], remaining: 5 },
    creates: "keys",
  });
  const argonKey = await call("POST", "/v1/keys", { body: { keyspaceId: slow.body.id }, creates: "keys" });
  const rootKey = await call("POST", "/v1/root-keys", {
    body: { name: "reader", permissions: ["keys:read", "keys:verify"] },
    creates: "root_keys",
  });
  expect([fast.status, slow.status, key.status, argonKey.status, rootKey.status]).toEqual([
    201, 201, 201, 201, 201,
  ]);
  return {
    keyspaceId: fast.body.id as string,
    keyId: key.body.id as string,
    key: key.body.key as string,
    argonKeyId: argonKey.body.id as string,
    argonKey: argonKey.body.key as string,
    rootKeyId: rootKey.body.id as string,
    rootKey: rootKey.body.key as string,
  };
}

describe("leak-proofing", () => {
  it("shows no key, hash or token outside its creating response, across every route's successes", async () => {
    const r = await everyResource();
    await call("GET", "/v1/keyspaces");
    await call("GET", `/v1/keyspaces/${r.keyspaceId}`);
    await call("PATCH", `/v1/keyspaces/${r.keyspaceId}`, { body: { name: "renamed" } });
    await call("GET", "/v1/keys?status=all");
    await call("GET", `/v1/keys/${r.keyId}`);
    await call("PATCH", `/v1/keys/${r.keyId}`, { body: { name: "renamed", meta: { plan: "pro" } } });
    for (const presented of [r.key, r.argonKey, r.rootKey]) {
      await call("POST", "/v1/keys/verify", { body: { key: presented } });
      await call("POST", "/v1/keys/verify", { body: { key: presented, scopes: ["write"] } });
    }
    await call("POST", "/v1/keys/verify", { body: { key: r.key }, token: r.rootKey });
    await call("GET", `/v1/keys/${r.keyId}/usage`);
    await call("GET", "/v1/keys", { token: r.rootKey });
    const rotated = await call("POST", `/v1/keys/${r.keyId}/rotate`, {
      body: { gracePeriodSeconds: 60 },
      creates: "keys",
    });
    await call("POST", "/v1/keys/verify", { body: { key: rotated.body.key } });
    await call("POST", `/v1/keys/${r.keyId}/revoke`, { body: { reason: "leak test" } });
    await call("POST", "/v1/keys/verify", { body: { key: r.key } });
    await call("DELETE", `/v1/keys/${r.argonKeyId}`);
    await call("POST", "/v1/keys/verify", { body: { key: r.argonKey } });
    await call("GET", "/v1/root-keys");
    await call("POST", `/v1/root-keys/${r.rootKeyId}/revoke`);
    await call("GET", "/v1/keys", { token: r.rootKey });
    await call("GET", "/v1/audit-events?limit=100");
    await call("GET", "/healthz");
    await call("GET", "/readyz");
    await call("GET", "/metrics", { token: METRICS_TOKEN });
    await call("GET", "/openapi.json");
    await call("GET", "/docs");
    expect(responses.filter((response) => response.mayShow !== null)).toHaveLength(5);
    await expectNoLeaks();
  });

  it("never echoes a secret fed into validation errors: field values, field names, query strings, ids, headers", async () => {
    const r = await everyResource();
    const candidates = [r.key, r.argonKey, r.rootKey, t.rootKey, ADMIN_TOKEN, sha256Hex(r.key)];
    for (const secret of candidates) {
      const bodies: [string, string, Record<string, unknown>][] = [
        ["POST", "/v1/keyspaces", { name: secret.repeat(3), prefix: secret, hashAlgorithm: secret }],
        ["POST", "/v1/keyspaces", { name: "x", prefix: "leakq", defaults: { scopes: [`${secret}!`] } }],
        ["PATCH", `/v1/keyspaces/${r.keyspaceId}`, { [secret]: 1 }],
        ["POST", "/v1/keys", { keyspaceId: r.keyspaceId, scopes: [`${secret} `], expiresAt: secret }],
        ["POST", "/v1/keys", { keyspaceId: r.keyspaceId, name: secret.repeat(3), remaining: secret }],
        ["POST", "/v1/keys", { keyspaceId: secret, refill: { amount: secret, interval: secret } }],
        ["PATCH", `/v1/keys/${r.keyId}`, { [secret]: secret, meta: secret, enabled: secret }],
        ["POST", `/v1/keys/${r.keyId}/rotate`, { gracePeriodSeconds: secret }],
        ["POST", `/v1/keys/${r.keyId}/revoke`, { reason: secret.repeat(10), [secret]: true }],
        ["POST", "/v1/keys/verify", { key: secret, cost: secret, scopes: [`${secret}*`] }],
        ["POST", "/v1/keys/verify", { key: secret.repeat(40), cost: secret }],
        ["POST", "/v1/keys/verify", { [secret]: secret }],
        ["POST", "/v1/root-keys", { name: secret, permissions: [secret] }],
      ];
      for (const [method, path, body] of bodies) {
        const response = await call(method, path, { body });
        expect(response.status, `${method} ${path}`).toBe(400);
      }
      const admin = await call("POST", "/v1/admin/workspaces", {
        body: { [secret]: secret },
        token: ADMIN_TOKEN,
      });
      expect(admin.status).toBe(400);
      for (const query of [
        `status=${secret}`,
        `limit=${secret}`,
        `cursor=${secret}`,
        `keyspaceId=${secret.repeat(3)}`,
        `${secret}=1`,
      ]) {
        const response = await call("GET", `/v1/keys?${query}`);
        expect(response.status, query).toBe(400);
      }
      await call("GET", `/v1/audit-events?action=${secret}&resourceId=${secret.repeat(2)}`);
      await call("GET", `/v1/keys/${r.keyId}/usage?granularity=${secret}&from=${secret}`);
      await call("GET", `/v1/keyspaces?${secret}=${secret}`);
      await call("GET", `/v1/keys/${secret}`);
      await call("POST", `/v1/keys/${secret}/revoke`, { body: {} });
      await call("POST", `/v1/root-keys/${secret}/revoke`);
      await call("GET", "/v1/keys", { headers: { "x-request-id": secret } });
      await call("PATCH", `/v1/keys/${r.keyId}`, {
        body: { name: "ok" },
        headers: { "x-request-id": secret },
      });
      await call("GET", "/v1/keys", { token: secret });
      await call("GET", "/v1/keys", { token: `${secret}x` });
      await call("POST", "/v1/admin/workspaces", { body: { name: "x" }, token: secret });
      await call("GET", "/metrics", { token: secret });
    }
    await expectNoLeaks();
  });

  it("shows nothing of a key, hash or token in a 500, its log line or its body", async () => {
    const r = await everyResource();
    const stored = t.db.$client.prepare("SELECT hash FROM keys WHERE id = ?").get(r.argonKeyId) as {
      hash: string;
    };
    const poisoned = new Error(
      `SQLITE_CORRUPT: database disk image is malformed; params: ${r.key}, ${sha256Hex(r.key)}, ${stored.hash}, ${r.rootKey}, ${ADMIN_TOKEN}`,
    );
    poisoned.stack = `${poisoned.message}\n    at findById (${r.argonKey})`;
    vi.spyOn(t.deps.repos.keys, "findById").mockRejectedValue(poisoned);
    vi.spyOn(t.deps.repos.keys, "findForVerify").mockRejectedValue(poisoned);
    vi.spyOn(t.deps.repos.keyspaces, "findById").mockRejectedValue(poisoned);
    t.deps.keyCache.clear();

    const failures = [
      await call("GET", `/v1/keys/${r.keyId}`),
      await call("PATCH", `/v1/keys/${r.keyId}`, { body: { name: "x" } }),
      await call("POST", "/v1/keys/verify", { body: { key: r.key } }),
      await call("POST", "/v1/keys", { body: { keyspaceId: r.keyspaceId } }),
      await call("POST", `/v1/keys/${r.keyId}/rotate`, { body: {} }),
    ];
    for (const response of failures) {
      expect(response.status).toBe(500);
      expect(response.body).toMatchObject({ code: "INTERNAL", detail: "An unexpected error occurred." });
    }
    expect(t.logs.filter((line) => line.includes('"request failed"'))).toHaveLength(failures.length);
    await expectNoLeaks();
  });

  it("answers a request id holding a key, a hash or a token with a fresh one, and echoes ordinary ids", async () => {
    const r = await everyResource();
    const digest = sha256Hex(r.key);
    // Run into letters, digits or "_" too: the secret scanner's word boundaries would miss those.
    // A token anywhere in the id counts, not only an id equal to it.
    const secrets = [
      r.key,
      `trace.${r.rootKey}`,
      digest,
      ADMIN_TOKEN,
      `trace.${ADMIN_TOKEN}`,
      `${ADMIN_TOKEN}:1`,
      `x-${METRICS_TOKEN}`,
    ];
    const runInto = [`Z${r.key}`, `trace_${r.key}`, `${r.key}0`, `_${r.rootKey}`, `a${digest}`, `${digest}0`];
    for (const id of [...secrets, ...runInto]) {
      const response = await call("PATCH", `/v1/keys/${r.keyId}`, {
        body: { name: "renamed" },
        headers: { "x-request-id": id },
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    }
    const ordinary = await call("GET", "/v1/keys", { headers: { "x-request-id": "req-2026.11.27:0001" } });
    expect(ordinary.headers.get("x-request-id")).toBe("req-2026.11.27:0001");
    await expectNoLeaks();
  });

  it("echoes a key-shaped request id whose checksum fails (no key, contract §1), and replaces one whose checksum holds", async () => {
    const body = `order_${"0123456789".repeat(4)}${"ABCDEFGHIJ"}`;
    const keyShaped = [body, `x_${"A".repeat(50)}`, `test_${"aB3".repeat(20)}`];
    for (const id of keyShaped) {
      const response = await call("GET", "/v1/keys", { headers: { "x-request-id": id } });
      expect(response.headers.get("x-request-id"), id).toBe(id);
      const problem = await call("GET", "/v1/keys/key_nope", { headers: { "x-request-id": id } });
      expect(problem.body).toMatchObject({ status: 404, requestId: id });
    }
    // The same shape with a checksum that holds is a key, issued or not.
    const head = `order_${"0123456789".repeat(4)}ABCD`;
    const key = `${head}${checksumOf(head)}`;
    const replaced = await call("GET", "/v1/keys", { headers: { "x-request-id": key } });
    expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    requestLinesWritten(t);
    expect(t.logs.join("\n")).not.toContain(key);
    await expectNoLeaks();
  });
});

describe("secrets a client writes into what KeyMint stores or echoes", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });

  it("stores a revocation reason without the key pasted into it: not in the key, its audit event or any answer", async () => {
    const keyspaceId = (await createKeyspace(t)).id;
    const revoked = await createKey(t, { keyspaceId });
    const leaked = await createKey(t, { keyspaceId });
    const response = await t.call("POST", `/v1/keys/${revoked.id}/revoke`, {
      body: { reason: `leaked together with ${leaked.key} in a paste` },
    });
    expect(response.status).toBe(200);
    expect(response.body.revokedReason).toBe("leaked together with [redacted key] in a paste");
    for (const answer of [
      response,
      await t.call("GET", `/v1/keys/${revoked.id}`),
      await t.call("GET", `/v1/audit-events?resourceId=${revoked.id}`),
    ]) {
      expect(answer.text).not.toContain(leaked.key);
    }
  });

  it("stores a revocation reason without this deployment's admin or metrics token pasted into it", async () => {
    const withTokens = await createTestApp({ config: { KEYMINT_METRICS_TOKEN: METRICS_TOKEN } });
    const key = await createKey(withTokens, { keyspaceId: (await createKeyspace(withTokens)).id });
    const response = await withTokens.call("POST", `/v1/keys/${key.id}/revoke`, {
      body: { reason: `ops pasted ${ADMIN_TOKEN} and ${METRICS_TOKEN}` },
    });
    expect(response.body.revokedReason).toBe("ops pasted [redacted token] and [redacted token]");
    for (const answer of [
      response,
      await withTokens.call("GET", `/v1/keys/${key.id}`),
      await withTokens.call("GET", `/v1/audit-events?resourceId=${key.id}`),
    ]) {
      expect(answer.text).not.toContain(ADMIN_TOKEN);
      expect(answer.text).not.toContain(METRICS_TOKEN);
    }
  });

  it("refuses a key written into a field shown on every read: names, ownerIds, meta (400 naming it, nothing stored)", async () => {
    const keyspaceId = (await createKeyspace(t)).id;
    const kept = await createKey(t, { keyspaceId, name: "kept" });
    const leaked = await createKey(t, { keyspaceId });
    const attempts: [string, string, Record<string, unknown>, ...string[]][] = [
      ["POST", "/v1/keys", { keyspaceId, name: `leaked ${leaked.key}` }, "name"],
      ["POST", "/v1/keys", { keyspaceId, ownerId: leaked.key }, "ownerId"],
      ["POST", "/v1/keys", { keyspaceId, meta: { notes: [`see:${leaked.key}`] } }, "meta"],
      ["POST", "/v1/keys", { keyspaceId, meta: { [leaked.key]: true } }, "meta"],
      ["PATCH", `/v1/keys/${kept.id}`, { name: t.rootKey, meta: { a: leaked.key } }, "name", "meta"],
      ["POST", "/v1/keyspaces", { name: `x${leaked.key}x`, prefix: "leaky" }, "name"],
      [
        "POST",
        "/v1/root-keys",
        { name: t.rootKey, permissions: ["keys:read"], ownerId: leaked.key },
        "name",
        "ownerId",
      ],
      // A scope is up to 64 characters: a root key (58) fits, and so does a key with a short prefix.
      ["POST", "/v1/keys", { keyspaceId, scopes: ["read", t.rootKey, leaked.key] }, "scopes.1", "scopes.2"],
      ["PATCH", `/v1/keys/${kept.id}`, { scopes: [leaked.key] }, "scopes.0"],
      [
        "POST",
        "/v1/keyspaces",
        { name: "x", prefix: "leakz", defaults: { scopes: [t.rootKey] } },
        "defaults.scopes.0",
      ],
    ];
    const before = totalChanges(t);
    for (const [method, path, body, ...fields] of attempts) {
      const response = await t.call(method, path, { body });
      expectValidationErrors(response, fields);
      expect(response.text).not.toContain(leaked.key);
      expect(response.text).not.toContain(t.rootKey);
    }
    const workspace = await t.call("POST", "/v1/admin/workspaces", {
      body: { name: leaked.key },
      token: ADMIN_TOKEN,
    });
    expectValidationErrors(workspace, ["name"]);
    expect(totalChanges(t)).toBe(before);
    expect((await t.call("GET", `/v1/keys/${kept.id}`)).body.name).toBe("kept");
    // Filtering by an ownerId stores nothing: any string is compared.
    const filtered = await t.call("GET", `/v1/keys?ownerId=${encodeURIComponent(`legacy-${leaked.key}`)}`);
    expect([filtered.status, filtered.body.data]).toEqual([200, []]);
    // Nor is a verify's own list of scopes stored: a key-shaped one is only a scope the key lacks.
    const verified = await t.call("POST", "/v1/keys/verify", {
      body: { key: kept.key, scopes: [leaked.key] },
    });
    expect(verified.body.code).toBe("INSUFFICIENT_SCOPES");
  });

  it("refuses this deployment's admin or metrics token written into a field shown on every read (400 naming it once, nothing stored)", async () => {
    const withTokens = await createTestApp({ config: { KEYMINT_METRICS_TOKEN: METRICS_TOKEN } });
    const keyspaceId = (await createKeyspace(withTokens)).id;
    const kept = await createKey(withTokens, { keyspaceId, name: "kept" });
    const attempts: [string, string, unknown, ...string[]][] = [
      ["POST", "/v1/keys", { keyspaceId, name: `ops ${ADMIN_TOKEN}` }, "name"],
      [
        "POST",
        "/v1/keys",
        { keyspaceId, ownerId: METRICS_TOKEN, meta: { [ADMIN_TOKEN]: 1 } },
        "ownerId",
        "meta",
      ],
      ["POST", "/v1/keys", { keyspaceId, scopes: ["read", METRICS_TOKEN] }, "scopes"],
      // Beside a field the schema refuses, each named once (contract §6).
      ["PATCH", `/v1/keys/${kept.id}`, { name: "", meta: { notes: [ADMIN_TOKEN] } }, "name", "meta"],
      // In a field the schema refuses too, or beside a bad element of it: named once, where the schema named it.
      ["POST", "/v1/keys", { keyspaceId, name: `${ADMIN_TOKEN}${"n".repeat(128)}` }, "name"],
      ["POST", "/v1/keys", { keyspaceId, scopes: ["no spaces", ADMIN_TOKEN] }, "scopes.0"],
      ["POST", "/v1/keys", { keyspaceId, meta: { note: METRICS_TOKEN, pad: "p".repeat(5_000) } }, "meta"],
      // Not an object at all: the body is named, not its elements.
      ["POST", "/v1/keys", [keyspaceId, ADMIN_TOKEN], "(root)"],
      [
        "POST",
        "/v1/keyspaces",
        { name: "x", prefix: "tok", defaults: { scopes: [ADMIN_TOKEN] } },
        "defaults",
      ],
      ["PATCH", `/v1/keyspaces/${keyspaceId}`, { name: `${METRICS_TOKEN}!` }, "name"],
      ["POST", "/v1/root-keys", { name: ADMIN_TOKEN, permissions: ["keys:read"] }, "name"],
      ["POST", "/v1/admin/workspaces", { name: `acme ${METRICS_TOKEN}` }, "name"],
    ];
    const before = totalChanges(withTokens);
    for (const [method, path, body, ...fields] of attempts) {
      const token = path.startsWith("/v1/admin/") ? ADMIN_TOKEN : undefined;
      const response = await withTokens.call(method, path, { body, token });
      expectValidationErrors(response, fields);
      expect(response.text).not.toContain(ADMIN_TOKEN);
      expect(response.text).not.toContain(METRICS_TOKEN);
    }
    expect(totalChanges(withTokens)).toBe(before);
    // A verify's body is only looked up, never stored: a token among its scopes is a scope the key lacks.
    const verified = await withTokens.call("POST", "/v1/keys/verify", {
      body: { key: kept.key, scopes: [ADMIN_TOKEN] },
    });
    expect([verified.status, verified.body.code]).toEqual([200, "INSUFFICIENT_SCOPES"]);
  });

  it("names a token beside a __proto__ field the body is refused for early, but not in a verify's body or a revocation's reason", async () => {
    const withTokens = await createTestApp({ config: { KEYMINT_METRICS_TOKEN: METRICS_TOKEN } });
    const keyspaceId = (await createKeyspace(withTokens)).id;
    const key = await createKey(withTokens, { keyspaceId });
    const headers = { "content-type": "application/json" };
    const attempts: [string, string, string, ...string[]][] = [
      [
        "POST",
        "/v1/keys",
        `{"keyspaceId":"${keyspaceId}","__proto__":{},"name":"ops ${ADMIN_TOKEN}"}`,
        "(root)",
        "name",
      ],
      [
        "PATCH",
        `/v1/keys/${key.id}`,
        `{"meta":{"a":{"__proto__":1,"b":"${METRICS_TOKEN}"}},"name":"${METRICS_TOKEN}"}`,
        "meta.a",
        "meta",
        "name",
      ],
      // Bodies not stored as given: the __proto__ field alone is named, as when they reach validation.
      ["POST", `/v1/keys/${key.id}/revoke`, `{"__proto__":{},"reason":"${ADMIN_TOKEN}"}`, "(root)"],
      [
        "POST",
        "/v1/keys/verify",
        `{"key":"${key.key}","__proto__":{},"scopes":["${ADMIN_TOKEN}"]}`,
        "(root)",
      ],
    ];
    const before = totalChanges(withTokens);
    for (const [method, path, raw, ...fields] of attempts) {
      const response = await withTokens.call(method, path, { raw, headers });
      expectValidationErrors(response, fields);
      expect(response.text).not.toContain(ADMIN_TOKEN);
      expect(response.text).not.toContain(METRICS_TOKEN);
    }
    expect(totalChanges(withTokens)).toBe(before);
  });

  it("still takes text that only looks like a key: a changed checksum, another vendor's token, a SHA-256", async () => {
    const keyspaceId = (await createKeyspace(t)).id;
    const { key } = await createKey(t, { keyspaceId });
    const changed = key.slice(0, -1) + (key.endsWith("a") ? "b" : "a");
    const response = await t.call("POST", "/v1/keys", {
      body: {
        keyspaceId,
        name: changed,
        ownerId: `sk_live_${"a".repeat(50)}`,
        meta: { sha: sha256Hex("file") },
      },
    });
    expect(response.status).toBe(201);
  });

  it("replaces a request id holding a SHA-256 digest in capitals, as it does one in lower case", async () => {
    const created = await createKey(t, { keyspaceId: (await createKeyspace(t)).id });
    const upper = sha256Hex(created.key).toUpperCase();
    const response = await t.call("GET", "/v1/keyspaces", { headers: { "x-request-id": upper } });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-request-id")).not.toBe(upper);
    requestLinesWritten(t);
    expect(t.logs.join("\n")).not.toContain(upper);
  });

  it("echoes and logs a sane id of hex filler: letters only or digits only, up to the 128-char limit", async () => {
    // Only a hex run holding digits and letters both can be a digest (see logger.ts).
    for (const id of ["a".repeat(128), "0".repeat(64), "F".repeat(100), `req-${"f".repeat(64)}`]) {
      const response = await t.call("GET", "/v1/keyspaces", { headers: { "x-request-id": id } });
      expect(response.headers.get("x-request-id")).toBe(id);
      requestLinesWritten(t);
      expect(t.logs.at(-1)).toContain(`"requestId":"${id}"`);
    }
    const missing = await t.call("GET", "/v1/keys/key_000000000000", {
      headers: { "x-request-id": "b".repeat(128) },
    });
    expect(missing.body.requestId).toBe("b".repeat(128));
  });
});
