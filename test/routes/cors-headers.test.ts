import { describe, expect, it } from "vitest";
import { createTestApp } from "../helpers.js";

const APP = "https://app.example.com";

describe("CORS for a listed origin", () => {
  it("exposes retry-after and www-authenticate besides x-request-id (a browser must read a 429/503's Retry-After)", async () => {
    const t = await createTestApp({ config: { KEYMINT_CORS_ORIGINS: [APP] } });
    const response = await t.call("GET", "/v1/keys", { headers: { origin: APP } });
    const exposed = (response.headers.get("access-control-expose-headers") ?? "")
      .toLowerCase()
      .split(/\s*,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(["x-request-id", "retry-after", "www-authenticate"]));
  });

  it("lets a preflight be cached (access-control-max-age)", async () => {
    const t = await createTestApp({ config: { KEYMINT_CORS_ORIGINS: [APP] } });
    const response = await t.call("OPTIONS", "/v1/keys", {
      token: null,
      headers: { origin: APP, "access-control-request-method": "PATCH" },
    });
    expect(response.status).toBeLessThan(300);
    expect(Number(response.headers.get("access-control-max-age"))).toBeGreaterThan(0);
  });
});
