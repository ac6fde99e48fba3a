import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH } from "../../src/middleware/json-body.js";
import { createKey } from "../helpers.js";
import { expectProblem, expectValidationErrors } from "../support/api.js";
import {
  API_ROUTES,
  BODY_ROUTES,
  expectRefusedCleanly,
  FIELD_NAMES,
  type Fixture,
  hostileFixture,
  pathOf,
  type RawRequest,
  ROUTES,
  type RouteUnderTest,
  send,
  snapshot,
  validBody,
} from "../support/hostile.js";

/*
 * Property tests over every route of contract §4: whatever arrives, the answer is never a 5xx,
 * every 4xx is problem+json of the §6 shape, and a refused request leaves the database as it was.
 */

const RUNS = 200;
const JSON_TYPE = { "content-type": "application/json" };

let f: Fixture;
beforeEach(async () => {
  f = await hostileFixture();
});

/** Sends the request and checks the invariant around it. */
async function sendAndCheck(request: RawRequest, what: string) {
  const before = await snapshot(f);
  const response = await send(f, request);
  expectRefusedCleanly(response, before, await snapshot(f), what);
  return response;
}

const anyRoute = fc.constantFrom(...ROUTES);

/** The query parameters each route declares (contract §4); every other name is refused. */
const DECLARED_QUERY: Record<string, string[]> = {
  "GET /v1/keys": ["keyspaceId", "ownerId", "status", "limit", "cursor"],
  "GET /v1/audit-events": ["resourceId", "action", "limit", "cursor"],
  "GET /v1/keys/{keyId}/usage": ["granularity", "from", "to"],
};
const bodyRoute = fc.constantFrom(...BODY_ROUTES);

/** Strings meant to break things: control characters, lone surrogates, format lookalikes, SQL, paths. */
const nastyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(
    "",
    "\u0000",
    "\ud800",
    "\udfff\ud800",
    "💥".repeat(10),
    "' OR 1=1 --",
    "../../etc/passwd",
    "%00",
    "key_",
    "ksp_",
    "km_root_",
    "2026-11-27T04:00:00.000Z",
    "+275760-09-13T00:00:00.000Z",
    "-000001-01-01T00:00:00.000Z",
    "9999-12-31T23:59:59.999+23:59",
    "1e309",
    "NaN",
    "Infinity",
    "null",
    "true",
    "*",
    "keys:read",
    "daily",
    "argon2id",
  ),
);

const nastyNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, -1, 1, 2 ** 31, 2 ** 31 + 1, 2 ** 53, -(2 ** 53), 1e308, 5e-324, 0.5, 1000, 1001),
);

/** A JSON value, written as text so that `__proto__` keys reach the server as real keys. */
const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom("null", "true", "false"),
    nastyNumber.map((n) => JSON.stringify(n)),
    nastyString.map((s) => JSON.stringify(s)),
    fc.array(tie("value"), { maxLength: 5 }).map((items) => `[${items.join(",")}]`),
    fc
      .array(
        fc.tuple(fc.oneof(fc.constantFrom(...FIELD_NAMES), fc.string({ maxLength: 12 })), tie("value")),
        {
          maxLength: 6,
        },
      )
      .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`),
  ),
})).value;

/** An object body whose fields are mostly the real ones, with hostile values. */
const objectBody = fc
  .array(fc.tuple(fc.constantFrom(...FIELD_NAMES), jsonText), { minLength: 1, maxLength: 6 })
  .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`);

function isJson(bytes: Uint8Array): boolean {
  try {
    JSON.parse(Buffer.from(bytes).toString("utf8"));
    return true;
  } catch {
    return false;
  }
}

/** Percent-encodes every byte of the UTF-8 form (a lone surrogate becomes U+FFFD, as a client would send). */
function percentEncode(text: string): string {
  return [...Buffer.from(text, "utf8")].map((byte) => `%${byte.toString(16).padStart(2, "0")}`).join("");
}

function describeRequest(route: RouteUnderTest, detail: string): string {
  return `${route.method} ${route.path} ${detail.slice(0, 200)}`;
}

describe("hostile input, property-based, over every route", () => {
  it("never answers 5xx to random JSON bodies, and a refused one changes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(bodyRoute, fc.oneof(objectBody, jsonText), async (route, body) => {
        await sendAndCheck(
          { method: route.method, path: pathOf(route, f), headers: JSON_TYPE, body, auth: route.auth },
          describeRequest(route, body),
        );
      }),
      { numRuns: RUNS },
    );
  });

  it("answers random bytes with 4xx problem+json, never 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(bodyRoute, fc.uint8Array({ maxLength: 2048 }), async (route, bytes) => {
        const response = await sendAndCheck(
          { method: route.method, path: pathOf(route, f), headers: JSON_TYPE, body: bytes, auth: route.auth },
          describeRequest(route, Buffer.from(bytes).toString("hex")),
        );
        // Accepted only when the bytes happen to be a valid body: rotate and revoke take an empty one,
        // and whitespace alone counts as empty (emptyJsonBodyAsEmptyObject).
        const blank = new TextDecoder().decode(bytes).trim() === "";
        if (response.status < 400) expect(blank || isJson(bytes)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it("refuses bodies nested deeper than the limit with 400 BAD_REQUEST (413 past 64 KiB), never a stack overflow", async () => {
    await fc.assert(
      fc.asyncProperty(
        bodyRoute,
        fc.integer({ min: MAX_JSON_DEPTH, max: 40_000 }),
        fc.constantFrom("[", '{"a":'),
        fc.constantFrom(...FIELD_NAMES),
        async (route, depth, opener, field) => {
          const closer = opener === "[" ? "]" : "}";
          const body = `{${JSON.stringify(field)}:${opener.repeat(depth)}1${closer.repeat(depth)}}`;
          const response = await sendAndCheck(
            { method: route.method, path: pathOf(route, f), headers: JSON_TYPE, body, auth: route.auth },
            describeRequest(route, `${field} nested ${depth} deep with ${opener}`),
          );
          const expected = body.length > 64 * 1024 ? "PAYLOAD_TOO_LARGE" : "BAD_REQUEST";
          expect((response.body as { code: string }).code, describeRequest(route, `depth ${depth}`)).toBe(
            expected,
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("refuses huge strings in any field with 400 or 413 (verify's key: NOT_FOUND; a create's keyspaceId: 404)", async () => {
    await fc.assert(
      fc.asyncProperty(
        bodyRoute,
        fc.constantFrom(...FIELD_NAMES),
        fc.integer({ min: 1_100, max: 70_000 }), // past the longest string any field takes (1024)
        fc.constantFrom("a", "é", "💥", "\\u0000", "\\\\"),
        async (route, field, length, unit) => {
          // `length` characters once decoded (an escape like \\u0000 is one character), so every field's limit is passed.
          const body = `{${JSON.stringify(field)}:"${unit.repeat(length)}"}`;
          const response = await sendAndCheck(
            { method: route.method, path: pathOf(route, f), headers: JSON_TYPE, body, auth: route.auth },
            describeRequest(route, `${field}: ${length} × ${unit}`),
          );
          // Verify's key alone has no limit but the body's: any string in it is answered, NOT_FOUND.
          if (route.path === "/v1/keys/verify" && field === "key" && response.status === 200) {
            expect(response.body).toStrictEqual({ valid: false, code: "NOT_FOUND" });
          } else if (route.method === "POST" && route.path === "/v1/keys" && field === "keyspaceId") {
            // An id of any length that names no keyspace is 404 (contract), unless the body is over 64 KiB.
            expect([404, 413]).toContain(response.status);
          } else {
            expect([400, 413]).toContain(response.status);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("refuses invalid UTF-8 inside an otherwise valid body with 400 BAD_REQUEST", async () => {
    const invalidSequences = [
      [0xff],
      [0xc0, 0x80], // overlong NUL
      [0xed, 0xa0, 0x80], // an encoded surrogate
      [0xe2, 0x82], // truncated
      [0xf8, 0x88, 0x80, 0x80, 0x80], // five-byte form
      [0x80], // lone continuation byte
    ];
    await fc.assert(
      fc.asyncProperty(bodyRoute, fc.constantFrom(...invalidSequences), async (route, sequence) => {
        const text = JSON.stringify({ ...validBody(route, f), name: "marker" });
        const at = text.indexOf("marker");
        const bytes = Buffer.concat([
          Buffer.from(text.slice(0, at)),
          Buffer.from(sequence),
          Buffer.from(text.slice(at)),
        ]);
        const response = await sendAndCheck(
          { method: route.method, path: pathOf(route, f), headers: JSON_TYPE, body: bytes, auth: route.auth },
          describeRequest(route, `invalid UTF-8 ${sequence}`),
        );
        expect(response.status).toBe(400);
        expect((response.body as { code: string }).code).toBe("BAD_REQUEST");
      }),
      { numRuns: 100 },
    );
  });

  it("answers a valid body under a content type other than JSON with 415 and changes nothing", async () => {
    const contentType = fc.oneof(
      fc.constantFrom(
        "text/plain",
        "text/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonx",
        "json",
        "application/octet-stream",
        "application/json-patch",
      ),
      fc.string({ maxLength: 30 }).filter((type) => !/json/i.test(type) && /^[\x21-\x7e ]*$/.test(type)),
    );
    await fc.assert(
      fc.asyncProperty(bodyRoute, contentType, async (route, type) => {
        const headers: Record<string, string> = type === "" ? {} : { "content-type": type };
        const response = await sendAndCheck(
          {
            method: route.method,
            path: pathOf(route, f),
            headers,
            body: JSON.stringify(validBody(route, f)),
            auth: route.auth,
          },
          describeRequest(route, `content-type ${JSON.stringify(type)}`),
        );
        expect(response.status, describeRequest(route, type)).toBe(415);
      }),
      { numRuns: RUNS },
    );
  });

  it("refuses tampered cursors with 400 on both paged lists", async () => {
    const tampered = fc.oneof(
      // One character of a real cursor changed.
      fc
        .tuple(fc.constantFrom("keys", "audit"), fc.nat(), fc.constantFrom(..."AZaz09-_.=%+/"))
        .map(([list, at, char]) => {
          const cursor = list === "keys" ? f.keysCursor : f.auditCursor;
          const i = at % cursor.length;
          const changed = `${cursor.slice(0, i)}${char}${cursor.slice(i + 1)}`;
          return changed === cursor ? `${cursor}x` : changed;
        }),
      // A real cursor of the other list, truncated, extended.
      fc.constantFrom("swap", "truncate", "extend", "doubled"),
      fc.string({ minLength: 1, maxLength: 300 }),
      // Forged: a cursor's length, made of random bytes.
      fc
        .uint8Array({ minLength: 36, maxLength: 36 })
        .map((bytes) => Buffer.from(bytes).toString("base64url")),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("/v1/keys", "/v1/audit-events"), tampered, async (list, raw) => {
        const own = list === "/v1/keys" ? f.keysCursor : f.auditCursor;
        const other = list === "/v1/keys" ? f.auditCursor : f.keysCursor;
        const cursor =
          raw === "swap"
            ? other
            : raw === "truncate"
              ? own.slice(0, -1)
              : raw === "extend"
                ? `${own}A`
                : raw === "doubled"
                  ? `${own}.${own}`
                  : raw;
        const response = await sendAndCheck(
          { method: "GET", path: `${list}?cursor=${percentEncode(cursor)}`, auth: "root" },
          `${list} cursor ${JSON.stringify(cursor)}`,
        );
        expect(response.status, `${list} cursor ${JSON.stringify(cursor)}`).toBe(400);
      }),
      { numRuns: RUNS },
    );
  });

  it("answers tampered or made-up ids with 404 or 400, never another resource", async () => {
    const idRoutes = API_ROUTES.filter((route) => route.path.includes("{"));
    const tamperedId = fc.oneof(
      fc
        .tuple(fc.constantFrom("keyId", "keyspaceId", "rootKeyId"), fc.constantFrom(..."AZaz09"))
        .map(([which, char]) => {
          const id = which === "keyId" ? f.keyId : which === "keyspaceId" ? f.keyspaceId : f.rootKeyId;
          const changed = `${id.slice(0, -1)}${char}`;
          return changed === id ? `${id}0` : changed;
        }),
      nastyString,
      fc.string({ minLength: 60, maxLength: 300 }),
      fc.constantFrom("..", "%2e%2e", "key_%2F..%2F", "%E0%A4%A", "%ff", "%00", "key_", "rk_", "ksp_"),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...idRoutes), tamperedId, async (route, id) => {
        const encoded = /%/.test(id) ? id : percentEncode(id);
        if (encoded === "" || encoded === "." || encoded === "..") return;
        const path = route.path.replace(/\{\w+\}/, encoded);
        const response = await sendAndCheck(
          {
            method: route.method,
            path,
            headers: route.body ? JSON_TYPE : {},
            body: route.body ? JSON.stringify(validBody(route, f)) : undefined,
            auth: route.auth,
          },
          describeRequest(route, `id ${JSON.stringify(id)}`),
        );
        expect([400, 404], describeRequest(route, `id ${JSON.stringify(id)}`)).toContain(response.status);
      }),
      { numRuns: RUNS },
    );
  });

  it("never answers 5xx to random query strings, and refuses unknown parameters", async () => {
    const names = fc.oneof(
      fc.constantFrom(
        "keyspaceId",
        "ownerId",
        "status",
        "limit",
        "cursor",
        "granularity",
        "from",
        "to",
        "resourceId",
        "action",
        "__proto__",
        "constructor",
      ),
      fc.string({ minLength: 1, maxLength: 10 }),
    );
    const value = fc.oneof(
      nastyString,
      nastyNumber.map(String),
      fc.constantFrom("%", "%zz", "%ff", "%E0%A4%A", "a&b", "0x10", " 5", "1e1"),
    );
    const query = fc.array(fc.tuple(names, value), { minLength: 1, maxLength: 5 });
    await fc.assert(
      fc.asyncProperty(anyRoute, query, async (route, pairs) => {
        const search = pairs
          .map(([name, v]) => `${percentEncode(name)}=${/^%/.test(v) ? v : percentEncode(v)}`)
          .join("&");
        const response = await sendAndCheck(
          {
            method: route.method,
            path: `${pathOf(route, f)}?${search}`,
            headers: route.body ? JSON_TYPE : {},
            body: route.body ? JSON.stringify(validBody(route, f)) : undefined,
            auth: route.auth,
          },
          describeRequest(route, `?${search}`),
        );
        const declared = DECLARED_QUERY[`${route.method} ${route.path}`] ?? [];
        const unknown = pairs.filter(([name]) => !declared.includes(name)).map(([name]) => name);
        if (route.auth !== "none" && unknown.length > 0) {
          expect(response.status, describeRequest(route, `?${search}`)).toBe(400);
          const paths = (response.body as { errors?: { path: string }[] }).errors?.map((error) => error.path);
          expect(paths).toEqual(expect.arrayContaining([unknown[0]?.replace(/\ud800|\udfff/g, "\ufffd")]));
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe("query parameters are validated as strictly as bodies", () => {
  for (const route of API_ROUTES) {
    it(`answers 400 VALIDATION_FAILED naming an unknown query parameter on ${route.method} ${route.path}`, async () => {
      const before = await snapshot(f);
      const response = await send(f, {
        method: route.method,
        path: `${pathOf(route, f)}?colour=blue`,
        headers: route.body ? JSON_TYPE : {},
        body: route.body ? JSON.stringify(validBody(route, f)) : undefined,
        auth: route.auth,
      });
      expect(response.body, response.text).toMatchObject({
        code: "VALIDATION_FAILED",
        errors: [{ path: "colour", message: "unknown field" }],
      });
      expectRefusedCleanly(response, before, await snapshot(f), `${route.method} ${route.path}?colour=blue`);
    });
  }

  it("names a repeated unknown query parameter once (one errors entry per bad field, §6)", async () => {
    const response = await f.t.call("GET", "/v1/keyspaces/ksp_nothing?colour=a&colour=b");
    expect(response.status).toBe(400);
    expect(response.body.code).toBe("VALIDATION_FAILED");
    expect(response.body.errors).toStrictEqual([{ path: "colour", message: "unknown field" }]);
  });

  it("still answers a route's own query parameters", async () => {
    const response = await f.t.call("GET", "/v1/keys?status=all&limit=1");
    expect(response.status).toBe(200);
    expect(response.body.data).toHaveLength(1);
  });
});

describe("bodies are refused on routes that take none", () => {
  const bodiless = API_ROUTES.filter((route) => !route.body && route.method !== "GET");

  it("covers the routes that change something without a body", () => {
    expect(bodiless.map((route) => `${route.method} ${route.path}`)).toEqual(
      expect.arrayContaining(["DELETE /v1/keys/{keyId}", "POST /v1/root-keys/{rootKeyId}/revoke"]),
    );
  });

  for (const route of bodiless) {
    it(`answers 400 VALIDATION_FAILED naming each field of a body sent to ${route.method} ${route.path}, and changes nothing`, async () => {
      const before = await snapshot(f);
      const response = await send(f, {
        method: route.method,
        path: pathOf(route, f),
        headers: JSON_TYPE,
        body: JSON.stringify({ confirm: false, reason: "typo" }),
        auth: route.auth,
      });
      expect(response.body, response.text).toMatchObject({
        code: "VALIDATION_FAILED",
        errors: [
          { path: "confirm", message: "unknown field" },
          { path: "reason", message: "unknown field" },
        ],
      });
      expectRefusedCleanly(response, before, await snapshot(f), `${route.method} ${route.path} with a body`);
    });

    it(`answers 400 BAD_REQUEST to a body that is not a JSON object on ${route.method} ${route.path}`, async () => {
      const before = await snapshot(f);
      const response = await send(f, {
        method: route.method,
        path: pathOf(route, f),
        headers: { "content-type": "text/plain" },
        body: "please",
        auth: route.auth,
      });
      expect(response.body, response.text).toMatchObject({ code: "BAD_REQUEST" });
      expectRefusedCleanly(response, before, await snapshot(f), `${route.method} ${route.path} with text`);
    });
  }

  it.each(["{}", "{ \n }", "null"])("takes %j as no body", async (raw) => {
    const key = await createKey(f.t, { keyspaceId: f.keyspaceId });
    const response = await f.t.call("DELETE", `/v1/keys/${key.id}`, { raw, headers: JSON_TYPE });
    expect(response.status).toBe(204);
  });
});

describe("JSON bodies the parser would accept but the service must not", () => {
  async function createWithRaw(raw: string | Uint8Array) {
    const response = await send(f, {
      method: "POST",
      path: "/v1/keys",
      headers: JSON_TYPE,
      body: raw,
      auth: "root",
    });
    return { ...response, body: response.body as Record<string, unknown> };
  }

  it(`accepts the deepest meta its 4 KiB can hold (${MAX_JSON_DEPTH} levels in all), and answers it back`, async () => {
    const inner = MAX_JSON_DEPTH - 2;
    const meta = `{"":${"[".repeat(inner)}${"]".repeat(inner)}}`;
    expect(meta.length).toBe(4095); // one level more would pass 4 KiB
    const created = await createWithRaw(`{"keyspaceId":"${f.keyspaceId}","meta":${meta}}`);
    expect(created.status).toBe(201);
    expect(JSON.stringify(created.body.meta)).toBe(meta);
    const verified = await f.t.call("POST", "/v1/keys/verify", { body: { key: created.body.key } });
    expect(verified.body).toMatchObject({ code: "VALID" });
    expect(JSON.stringify(verified.body.meta)).toBe(meta);
  });

  it("answers 400 BAD_REQUEST, not a 500, for meta nested one level deeper", async () => {
    const inner = MAX_JSON_DEPTH - 1;
    const raw = `{"keyspaceId":"${f.keyspaceId}","meta":{"":${"[".repeat(inner)}${"]".repeat(inner)}}}`;
    const response = await createWithRaw(raw);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({
      code: "BAD_REQUEST",
      detail: expect.stringContaining("nests deeper"),
    });
  });

  it("answers 400 BAD_REQUEST for 30 000 nested arrays in a verify body (JSON.stringify would overflow)", async () => {
    const response = await send(f, {
      method: "POST",
      path: "/v1/keys/verify",
      headers: JSON_TYPE,
      body: `{"key":${"[".repeat(30_000)}${"]".repeat(30_000)}}`,
      auth: "root",
    });
    expect({ status: response.status, code: (response.body as { code: string }).code }).toEqual({
      status: 400,
      code: "BAD_REQUEST",
    });
  });

  it.each([
    ["nested in meta", '"meta":{"a":{"__proto__":{"admin":true}}}', "meta.a"],
    ["escaped as \\u005f_proto__", '"meta":{"\\u005f_proto__":{"admin":true}}', "meta"],
    ["in an array in meta", '"meta":{"list":[{"__proto__":1}]}', "meta.list.0"],
  ])("answers 400 VALIDATION_FAILED for a __proto__ field %s, naming the object", async (_, fields, path) => {
    const before = await snapshot(f);
    const response = await createWithRaw(`{"keyspaceId":"${f.keyspaceId}",${fields}}`);
    expectValidationErrors({ ...response, body: response.body }, [path]);
    expect(await snapshot(f)).toBe(before);
  });

  it.each([
    ["a name", (ks: string) => `{"keyspaceId":"${ks}","name":"a\\ud800b"}`, "name"],
    ["an ownerId", (ks: string) => `{"keyspaceId":"${ks}","ownerId":"\\udc00"}`, "ownerId"],
    ["a meta value", (ks: string) => `{"keyspaceId":"${ks}","meta":{"note":["\\udfff\\ud800"]}}`, "meta"],
    ["a meta field name", (ks: string) => `{"keyspaceId":"${ks}","meta":{"x\\ud800":1}}`, "meta"],
  ])(
    "answers 400 VALIDATION_FAILED for a lone surrogate in %s: it is not Unicode (a text column stores it as U+FFFD)",
    async (_, body, path) => {
      const before = await snapshot(f);
      const response = await createWithRaw(body(f.keyspaceId));
      expectValidationErrors({ ...response, body: response.body }, [path]);
      expect(await snapshot(f)).toBe(before);
    },
  );

  it("refuses root keys bound to owners that differ only in lone surrogates (stored alike, they would be one owner)", async () => {
    const before = await snapshot(f);
    for (const ownerId of ["\\ud800", "\\udc00"]) {
      const response = await send(f, {
        method: "POST",
        path: "/v1/root-keys",
        headers: JSON_TYPE,
        body: `{"name":"dash","permissions":["keys:read"],"ownerId":"${ownerId}"}`,
        auth: "root",
      });
      expectValidationErrors({ ...response, body: response.body }, ["ownerId"]);
    }
    expect(await snapshot(f)).toBe(before);
  });

  it.each(["br", "gzip", "x-unknown"])(
    "answers 415 with Accept-Encoding: identity for a body sent with Content-Encoding %s, and creates nothing",
    async (encoding) => {
      const before = await snapshot(f);
      const response = await send(f, {
        method: "POST",
        path: "/v1/keys",
        headers: { ...JSON_TYPE, "content-encoding": encoding },
        body: JSON.stringify({ keyspaceId: f.keyspaceId, name: "claims-compressed" }),
        auth: "root",
      });
      expectProblem({ ...response, body: response.body }, 415, "UNSUPPORTED_MEDIA_TYPE");
      expect(response.headers.get("accept-encoding")).toBe("identity");
      expect(await snapshot(f)).toBe(before);
    },
  );

  it.each(["Identity", ""])(
    "takes a body sent with Content-Encoding %j, which is the body as it is",
    async (encoding) => {
      const response = await send(f, {
        method: "POST",
        path: "/v1/keys",
        headers: { ...JSON_TYPE, "content-encoding": encoding },
        body: JSON.stringify({ keyspaceId: f.keyspaceId, name: "plain" }),
        auth: "root",
      });
      expect(response.status).toBe(201);
    },
  );

  it.each([
    ["DELETE", "/v1/keys/{keyId}"],
    ["POST", "/v1/root-keys/{rootKeyId}/revoke"],
  ])(
    "answers 415, not 400, for a gzip body on %s %s, which takes none, and changes nothing",
    async (method, path) => {
      const before = await snapshot(f);
      const response = await send(f, {
        method,
        path: path.replace("{keyId}", f.keyId).replace("{rootKeyId}", f.rootKeyId),
        headers: { ...JSON_TYPE, "content-encoding": "gzip" },
        body: gzipSync("{}"),
        auth: "root",
      });
      expectProblem({ ...response, body: response.body }, 415, "UNSUPPORTED_MEDIA_TYPE");
      expect(response.headers.get("accept-encoding")).toBe("identity");
      expect(await snapshot(f)).toBe(before);
    },
  );

  it("minds no Content-Encoding on a request without a body", async () => {
    const response = await send(f, {
      method: "DELETE",
      path: `/v1/keys/${f.keyId}`,
      headers: { ...JSON_TYPE, "content-encoding": "gzip" },
      auth: "root",
    });
    expect(response.status).toBe(204);
  });

  it("answers a verify of a lone surrogate 200 NOT_FOUND, as any string that is no key", async () => {
    const response = await send(f, {
      method: "POST",
      path: "/v1/keys/verify",
      headers: JSON_TYPE,
      body: '{"key":"\\ud800"}',
      auth: "root",
    });
    expect([response.status, response.body]).toEqual([200, { valid: false, code: "NOT_FOUND" }]);
  });

  it("revokes a key whose reason holds a lone surrogate (half an emoji), storing U+FFFD for it", async () => {
    const response = await send(f, {
      method: "POST",
      path: `/v1/keys/${f.keyId}/revoke`,
      headers: JSON_TYPE,
      body: '{"reason":"leaked \\ud83d"}',
      auth: "root",
    });
    expect(response.status).toBe(200);
    expect((response.body as { revokedReason: string }).revokedReason).toBe("leaked \ufffd");
    const stored = await f.t.call("GET", `/v1/keys/${f.keyId}`);
    expect([stored.body.revokedAt, stored.body.revokedReason]).toEqual([expect.any(String), "leaked \ufffd"]);
  });

  it("keeps an escaped surrogate pair, which is one character", async () => {
    const response = await createWithRaw(`{"keyspaceId":"${f.keyspaceId}","name":"\\ud83d\\udca5 boom"}`);
    expect(response.status).toBe(201);
    expect(response.body.name).toBe("💥 boom");
    const stored = await f.t.call("GET", `/v1/keys/${response.body.id}`);
    expect(stored.body.name).toBe("💥 boom");
  });

  it("keeps constructor and prototype as ordinary meta fields", async () => {
    const response = await createWithRaw(
      `{"keyspaceId":"${f.keyspaceId}","meta":{"constructor":{"prototype":1},"toString":"x"}}`,
    );
    expect(response.status).toBe(201);
    expect(response.body.meta).toEqual({ constructor: { prototype: 1 }, toString: "x" });
  });

  it("answers 400 BAD_REQUEST for a name with invalid UTF-8, instead of storing U+FFFD", async () => {
    const body = Buffer.concat([
      Buffer.from(`{"keyspaceId":"${f.keyspaceId}","name":"caf`),
      Buffer.from([0xe9]),
      Buffer.from('"}'),
    ]);
    const response = await send(f, {
      method: "POST",
      path: "/v1/keys",
      headers: JSON_TYPE,
      body,
      auth: "root",
    });
    expectProblem({ ...response, body: response.body }, 400, "BAD_REQUEST");
    expect((response.body as { detail: string }).detail).toBe("The request body is not valid UTF-8.");
  });

  it("reads a body with a UTF-8 byte order mark as before", async () => {
    const body = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(JSON.stringify({ keyspaceId: f.keyspaceId, name: "café" })),
    ]);
    const response = await send(f, {
      method: "POST",
      path: "/v1/keys",
      headers: JSON_TYPE,
      body,
      auth: "root",
    });
    expect(response.status).toBe(201);
    expect((response.body as { name: string }).name).toBe("café");
  });
});
