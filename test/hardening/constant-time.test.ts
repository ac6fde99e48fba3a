import { timingSafeEqual } from "node:crypto";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { secretEquals, sha256Equals, sha256Hex } from "../../src/keys/hash.js";
import { ADMIN_TOKEN, createTestApp, type TestApp, verify } from "../helpers.js";
import { createRootKey, expectProblem } from "../support/api.js";
import { keyWith } from "../support/verify.js";

// Contract §1 and §2: a key's hash and the admin token are compared in constant time. What compares
// them is node's timingSafeEqual, watched here (it still compares: the spy calls the real one).
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});
const compared = vi.mocked(timingSafeEqual);

/** The byte lengths of each pair timingSafeEqual compared since the last clear. */
const comparedLengths = () => compared.mock.calls.map(([a, b]) => [a.byteLength, b.byteLength]);

const METRICS_TOKEN = "metrics-token-0123456789abcdef";

describe("secrets are compared with crypto.timingSafeEqual", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp({ config: { KEYMINT_METRICS_TOKEN: METRICS_TOKEN } });
    compared.mockClear();
  });

  it("secretEquals: over both sides' SHA-256, so that lengths never leak", () => {
    expect(secretEquals("short", "a much longer admin token")).toBe(false);
    expect(secretEquals(ADMIN_TOKEN, ADMIN_TOKEN)).toBe(true);
    expect(comparedLengths()).toEqual([
      [32, 32],
      [32, 32],
    ]);
  });

  it("sha256Equals: the 32 bytes of each digest (a malformed stored hash is refused before)", () => {
    const digest = sha256Hex("km_root_example");
    expect(sha256Equals(digest, sha256Hex("other"))).toBe(false);
    expect(sha256Equals(digest, digest)).toBe(true);
    expect(comparedLengths()).toEqual([
      [32, 32],
      [32, 32],
    ]);
    expect(sha256Equals(digest, "not hex")).toBe(false);
    expect(compared).toHaveBeenCalledTimes(2);
  });

  it("the admin token, right or wrong", async () => {
    const wrong = await t.call("POST", "/v1/admin/workspaces", {
      body: { name: "x" },
      token: `${ADMIN_TOKEN}x`,
    });
    expectProblem(wrong, 401, "UNAUTHORIZED");
    expect(comparedLengths()).toEqual([[32, 32]]);
    compared.mockClear();
    const right = await t.call("POST", "/v1/admin/workspaces", { body: { name: "x" }, token: ADMIN_TOKEN });
    expect(right.status).toBe(201);
    expect(comparedLengths()).toEqual([[32, 32]]);
  });

  it("the metrics token, right or wrong", async () => {
    const wrong = await t.call("GET", "/metrics", { token: "metrics-token-0123456789abcdeX" });
    expectProblem(wrong, 401, "UNAUTHORIZED");
    expect(comparedLengths()).toEqual([[32, 32]]);
    compared.mockClear();
    expect((await t.call("GET", "/metrics", { token: METRICS_TOKEN })).status).toBe(200);
    expect(comparedLengths()).toEqual([[32, 32]]);
  });

  it("a root key's hash, when the root key is first read from the database", async () => {
    const rootKey = await createRootKey(t, ["keys:read"]);
    compared.mockClear();
    expect((await t.call("GET", "/v1/keys", { token: rootKey.key })).status).toBe(200);
    expect(comparedLengths()).toEqual([[32, 32]]);
  });

  it("a key's SHA-256 hash, when verify reads the key from the database", async () => {
    const { key } = await keyWith(t);
    compared.mockClear();
    expect((await verify(t, { key })).code).toBe("VALID");
    expect(comparedLengths()).toEqual([[32, 32]]);
  });
});
