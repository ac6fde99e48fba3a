import { describe, expect, it } from "vitest";
import { createTestApp } from "../helpers.js";

describe("strict query: one errors entry per unknown parameter (§6), even when repeated", () => {
  it("?colour=a&colour=b names colour once", async () => {
    const t = await createTestApp();
    const response = await t.call("GET", "/v1/keyspaces/ks_nothing?colour=a&colour=b");
    expect(response.status).toBe(400);
    expect(response.body.code).toBe("VALIDATION_FAILED");
    expect(response.body.errors).toStrictEqual([{ path: "colour", message: "unknown field" }]);
  });
});
