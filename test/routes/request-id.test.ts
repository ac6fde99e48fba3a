import { describe, expect, it } from "vitest";
import { ADMIN_TOKEN, createTestApp } from "../helpers.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const METRICS_TOKEN = "metrics-token-abcdefghijklmnop";

describe("request id policy: an id holding a configured token anywhere is replaced", () => {
  it.each([`trace.${ADMIN_TOKEN}`, `${ADMIN_TOKEN}:1`, `x-${METRICS_TOKEN}`])("%s", async (id) => {
    const t = await createTestApp({ config: { KEYMINT_METRICS_TOKEN: METRICS_TOKEN } });
    const response = await t.call("GET", "/v1/keys", { headers: { "x-request-id": id } });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-request-id")).toMatch(UUID);
  });
});
