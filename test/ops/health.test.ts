import { beforeEach, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../helpers.js";

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
  beforeEach(async () => {
    t = await createTestApp();
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
    expect((await create("during")).status).toBe(500);
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
