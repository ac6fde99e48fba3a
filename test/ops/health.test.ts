import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createKey, createKeyspace, createTestApp, ManualClock, type TestApp } from "../helpers.js";
import { tempDatabase } from "../support/server-process.js";

const OK = { status: "ok" };

async function get(app: TestApp["app"], path: string) {
  const response = await app.request(path, { headers: { "x-request-id": "health-check-1" } });
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    body: await response.json(),
  };
}

describe("GET /healthz and GET /readyz", () => {
  let t: TestApp;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await createTestApp({ clock });
  });

  it("answers /healthz 200 { status: ok } without authentication", async () => {
    expect(await get(t.app, "/healthz")).toStrictEqual({
      status: 200,
      contentType: "application/json",
      body: OK,
    });
  });

  it("answers /readyz 200 { status: ok } when the database answers and is migrated", async () => {
    expect(await get(t.app, "/readyz")).toStrictEqual({
      status: 200,
      contentType: "application/json",
      body: OK,
    });
  });

  it("answers /readyz 503 UNAVAILABLE once the database is closed, while /healthz stays 200", async () => {
    t.db.$client.close();
    const ready = await get(t.app, "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.contentType).toBe("application/problem+json");
    expect(ready.body).toMatchObject({ status: 503, code: "UNAVAILABLE", requestId: "health-check-1" });
    // Every 503 says when to try again, as the OpenAPI document declares.
    expect((await t.app.request("/readyz")).headers.get("retry-after")).toBe("1");
    expect(await get(t.app, "/healthz")).toMatchObject({ status: 200, body: OK });
  });

  it("answers /readyz 503 UNAVAILABLE when the schema the migrations create is missing", async () => {
    // Repos prepare their statements up front, so an app cannot be built on a never-migrated database;
    // dropping the tables afterwards leaves the same state: the database answers, the schema is not there.
    t.db.$client.pragma("foreign_keys = OFF");
    for (const { name } of t.db.$client
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all() as { name: string }[]) {
      t.db.$client.exec(`DROP TABLE "${name}"`);
    }
    const ready = await get(t.app, "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.contentType).toBe("application/problem+json");
    expect(ready.body).toMatchObject({ status: 503, code: "UNAVAILABLE", requestId: "health-check-1" });
  });

  it("answers /readyz 503 UNAVAILABLE while writes fail for the storage's sake, and 200 once one succeeds", async () => {
    const create = (prefix: string) => t.call("POST", "/v1/keyspaces", { body: { name: "docs", prefix } });
    expect((await create("before")).status).toBe(201);
    // The database answers reads but refuses every write (SQLITE_READONLY), as on a full disk.
    t.db.$client.pragma("query_only = ON");
    const refused = await create("during");
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ status: 503, code: "UNAVAILABLE" });
    expect(refused.headers.get("retry-after")).toBe("10");
    expect(refused.text).not.toMatch(/SQLITE|readonly/i);
    expect(await get(t.app, "/readyz")).toMatchObject({ status: 503, body: { code: "UNAVAILABLE" } });
    expect(await get(t.app, "/healthz")).toMatchObject({ status: 200, body: OK });
    t.db.$client.pragma("query_only = OFF");
    // The probe write succeeds: ready again, and the probe leaves nothing behind.
    expect(await get(t.app, "/readyz")).toMatchObject({ status: 200, body: OK });
    expect(t.db.$client.prepare("SELECT name FROM settings WHERE name = 'readiness_probe'").all()).toEqual(
      [],
    );
    expect((await create("after")).status).toBe(201);
  });

  it("answers /readyz 503 UNAVAILABLE when a migration this build ships is not applied", async () => {
    t.db.$client.exec(
      "DELETE FROM __drizzle_migrations WHERE created_at = (SELECT max(created_at) FROM __drizzle_migrations)",
    );
    const ready = await get(t.app, "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 503, code: "UNAVAILABLE" });
  });
});

// On a database file in WAL mode, as the server runs: a full disk fails a write inside a savepoint of
// the group and SQLite keeps the transaction, so only that write fails and the group commits.
describe("GET /readyz on a full disk", () => {
  let t: TestApp;
  let clock: ManualClock;
  let database: ReturnType<typeof tempDatabase>;
  beforeEach(async () => {
    clock = new ManualClock();
    database = tempDatabase();
    t = await createTestApp({ clock, dbFile: database.file });
  });
  afterEach(() => {
    t.db.$client.close();
    database.remove();
  });

  /** Caps the database at the pages it has: the next write that needs a page fails with SQLITE_FULL. */
  function fillDisk(): () => void {
    const pages = t.db.$client.pragma("page_count", { simple: true });
    t.db.$client.pragma(`max_page_count = ${pages}`);
    return () => t.db.$client.pragma("max_page_count = 1073741823");
  }

  it("answers /readyz 503 after a grouped write (a key create) failed on a full disk, 200 once there is room", async () => {
    const keyspace = await createKeyspace(t);
    const verified = await createKey(t, { keyspaceId: keyspace.id });
    await t.call("POST", "/v1/keys/verify", { body: { key: verified.key } });
    await t.deps.usage.flush(); // its usage row for this hour exists: the next flush updates it in place
    const freeDisk = fillDisk();
    let failed = false;
    for (let i = 0; i < 200 && !failed; i++) {
      const response = await t.call("POST", "/v1/keys", {
        body: { keyspaceId: keyspace.id, meta: { pad: "y".repeat(3000) } },
      });
      failed = response.status === 503;
    }
    expect(failed, "a create should have failed on the full database").toBe(true);
    expect(await get(t.app, "/readyz")).toMatchObject({ status: 503, body: { code: "UNAVAILABLE" } });
    // A small write that still fits (a usage flush updating its rows in place) does not make it ready.
    await t.call("POST", "/v1/keys/verify", { body: { key: verified.key } });
    await expect(t.deps.usage.flush()).resolves.toBeUndefined();
    expect(await get(t.app, "/readyz")).toMatchObject({ status: 503 });
    freeDisk();
    expect(await get(t.app, "/readyz")).toMatchObject({ status: 200, body: OK });
  });

  it("answers /readyz 503 after a usage flush failed on a full disk, with verifies the only traffic", async () => {
    const keyspace = await createKeyspace(t);
    const keys = await Promise.all(
      Array.from({ length: 50 }, () => createKey(t, { keyspaceId: keyspace.id })),
    );
    await t.deps.usage.flush();
    const freeDisk = fillDisk();
    let failed = false;
    // Usage rows for many keys and hours need pages: flush until one cannot be written.
    for (let hour = 0; hour < 200 && !failed; hour++) {
      for (const key of keys) await t.call("POST", "/v1/keys/verify", { body: { key: key.key } });
      clock.advance(3_600_000);
      failed = await t.deps.usage.flush().then(
        () => false,
        () => true,
      );
    }
    expect(failed, "a usage flush should have failed on the full database").toBe(true);
    expect(await get(t.app, "/readyz")).toMatchObject({ status: 503 });
    freeDisk();
    expect(await get(t.app, "/readyz")).toMatchObject({ status: 200, body: OK });
  });
});
