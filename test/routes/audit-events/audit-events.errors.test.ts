import { beforeEach, describe, it } from "vitest";
import { createKey, createKeyspace, createTestApp, type TestApp } from "../../helpers.js";
import { expectProblem, expectValidationErrors } from "../../support/api.js";

describe("audit events: errors", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });

  it.each([
    ["action=key.explode", "action"],
    ["limit=0", "limit"],
    ["limit=101", "limit"],
    ["limit=0x10", "limit"],
    ["limit=1e1", "limit"],
    ["resourceId=", "resourceId"],
    ["actor=root_key", "actor"],
  ])("answers 400 VALIDATION_FAILED for ?%s", async (query, path) => {
    expectValidationErrors(await t.call("GET", `/v1/audit-events?${query}`), [path]);
  });

  it("answers 400 for a tampered cursor and for a keys cursor", async () => {
    const keyspaceId = (await createKeyspace(t)).id;
    for (let i = 0; i < 2; i++) await createKey(t, { keyspaceId });
    const cursor = (await t.call("GET", "/v1/audit-events?limit=1")).body.nextCursor as string;
    expectProblem(await t.call("GET", `/v1/audit-events?cursor=${cursor.slice(0, -2)}`), 400, "BAD_REQUEST");
    const keysCursor = (await t.call("GET", "/v1/keys?limit=1")).body.nextCursor;
    expectProblem(await t.call("GET", `/v1/audit-events?cursor=${keysCursor}`), 400, "BAD_REQUEST");
  });
});
