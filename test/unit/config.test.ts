import { Hono } from "hono";
import { describe, expect, it, vi } from "vitest";
import { bearerToken } from "../../src/auth/bearer.js";
import { CACHE_MAX_LIMIT, type Config, ConfigError, loadConfig } from "../../src/config.js";
import { defaultArgon2Concurrency } from "../../src/keys/argon2-queue.js";
import { corsForOrigins } from "../../src/middleware/cors.js";

/** The ConfigError message loadConfig throws for `env`, or a failure saying it threw none. */
function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error(`expected loadConfig(${JSON.stringify(env)}) to throw a ConfigError`);
}

const HOST_MESSAGE =
  "Invalid configuration:\n  HOST: must be an IPv4 or IPv6 address (::1, without brackets) or a hostname such as localhost";
const TOKEN_RULE =
  "must be visible ASCII only (no spaces, control or non-ASCII characters): it is sent as `Authorization: Bearer <token>`";
const ORIGIN_RULE =
  "is not an origin: list http(s)://host[:port] only (no path, query or fragment), e.g. https://app.example.com";

describe("loadConfig: HOST", () => {
  it("takes IP literals and RFC 1123 hostnames, and rejects anything else naming HOST", () => {
    for (const host of [
      "127.0.0.1",
      "0.0.0.0",
      "::1",
      "::",
      "::ffff:127.0.0.1",
      "localhost",
      "api-1.internal.example.com",
      "a".repeat(63),
    ]) {
      expect(loadConfig({ HOST: host }).HOST, host).toBe(host);
    }
    for (const host of [
      "not_a_host",
      "999.1.1.1",
      "1.2.3",
      "[::1]",
      "-edge.example.com",
      "edge-.example.com",
      "a..b",
      "localhost.",
      "two words",
      "a".repeat(64),
      Array(5).fill("a".repeat(60)).join("."),
    ]) {
      expect(configError({ HOST: host }), host).toBe(HOST_MESSAGE);
    }
  });

  it("keeps 0.0.0.0 when HOST is empty, and still rejects a bad one", () => {
    expect(loadConfig({ HOST: "" }).HOST).toBe("0.0.0.0");
    expect(configError({ HOST: " " })).toBe(HOST_MESSAGE);
  });
});

describe("loadConfig: KEYMINT_DB", () => {
  it("takes a path or :memory:, and refuses a file: URI, which SQLite here would take as a file name", () => {
    expect(loadConfig({ KEYMINT_DB: "/var/lib/keymint/keymint.db" }).KEYMINT_DB).toBe(
      "/var/lib/keymint/keymint.db",
    );
    expect(loadConfig({ KEYMINT_DB: ":memory:" }).KEYMINT_DB).toBe(":memory:");
    for (const uri of ["file:k.db", "file:/var/lib/keymint/keymint.db?mode=rw", "FILE:k.db", " file:k.db"]) {
      expect(configError({ KEYMINT_DB: uri }), uri).toBe(
        "Invalid configuration:\n  KEYMINT_DB: must be a file path or :memory:, not a file: URI",
      );
    }
  });
});

describe("loadConfig: KEYMINT_ADMIN_TOKEN and KEYMINT_METRICS_TOKEN", () => {
  const visibleAscii = Array.from({ length: 0x7e - 0x20 }, (_, i) => String.fromCharCode(0x21 + i)).join("");
  const unsendable = {
    "a space": "abcdefgh ijklmnop",
    "a trailing newline": "abcdefghijklmnop\n",
    "a tab": "abcdefgh\tijklmnop",
    "a control character": "abcdefgh\u0001ijklmnop",
    "a non-breaking space": "abcdefgh\u00a0ijklmnop",
    "a non-ASCII letter": "abcdefgh\u00e9ijklmnop",
  };

  it("rejects a token that cannot travel in a Bearer header, naming the variable but not the token", () => {
    for (const name of ["KEYMINT_ADMIN_TOKEN", "KEYMINT_METRICS_TOKEN"]) {
      for (const [what, token] of Object.entries(unsendable)) {
        const message = configError({ [name]: token });
        expect(message, `${name} with ${what}`).toBe(`Invalid configuration:\n  ${name}: ${TOKEN_RULE}`);
        expect(message).not.toContain(token);
      }
    }
  });

  it("accepts exactly what src/auth/bearer.ts reads back from `Bearer <token>`: every visible ASCII character", () => {
    const config = loadConfig({
      KEYMINT_ADMIN_TOKEN: visibleAscii,
      KEYMINT_METRICS_TOKEN: "A-Za-z0-9._~+/==",
    });
    expect(config.KEYMINT_ADMIN_TOKEN).toBe(visibleAscii);
    expect(config.KEYMINT_METRICS_TOKEN).toBe("A-Za-z0-9._~+/==");
    expect(bearerToken(`Bearer ${visibleAscii}`)).toBe(visibleAscii);
    for (const [what, token] of Object.entries(unsendable).slice(0, 3)) {
      expect(bearerToken(`Bearer ${token}`), what).toBeUndefined();
      expect(() => loadConfig({ KEYMINT_ADMIN_TOKEN: token }), what).toThrow(ConfigError);
    }
  });
});

describe("loadConfig: KEYMINT_CACHE_MAX", () => {
  it("accepts up to 10,000,000 entries and says why a larger cache is refused", () => {
    expect(CACHE_MAX_LIMIT).toBe(10_000_000);
    expect(loadConfig({ KEYMINT_CACHE_MAX: "10000000" }).KEYMINT_CACHE_MAX).toBe(10_000_000);
    for (const value of ["10000001", "50000000"]) {
      expect(configError({ KEYMINT_CACHE_MAX: value }), value).toBe(
        "Invalid configuration:\n  KEYMINT_CACHE_MAX: must be at most 10000000: the cache reserves about 35 bytes per entry at start-up, before any key is cached (about 350 MB at the limit)",
      );
    }
  });
});

describe("loadConfig: KEYMINT_ARGON2_MAX_WAIT_MS", () => {
  it("defaults to 5 s, takes 0 (never wait) up to an hour, and names the variable otherwise", () => {
    expect(loadConfig({}).KEYMINT_ARGON2_MAX_WAIT_MS).toBe(5_000);
    expect(loadConfig({ KEYMINT_ARGON2_MAX_WAIT_MS: "0" }).KEYMINT_ARGON2_MAX_WAIT_MS).toBe(0);
    expect(loadConfig({ KEYMINT_ARGON2_MAX_WAIT_MS: "3600000" }).KEYMINT_ARGON2_MAX_WAIT_MS).toBe(3_600_000);
    for (const value of ["-1", "3600001", "1.5", "5s"]) {
      expect(configError({ KEYMINT_ARGON2_MAX_WAIT_MS: value }), value).toMatch(
        /^Invalid configuration:\n {2}KEYMINT_ARGON2_MAX_WAIT_MS: /,
      );
    }
  });
});

describe("loadConfig: KEYMINT_ARGON2_CONCURRENCY", () => {
  it("defaults to one fewer than the cores (within libuv's pool less one), and takes more up to the pool less one", () => {
    expect(loadConfig({}).KEYMINT_ARGON2_CONCURRENCY).toBe(defaultArgon2Concurrency({}));
    expect(loadConfig({ UV_THREADPOOL_SIZE: "1" }).KEYMINT_ARGON2_CONCURRENCY).toBe(1);
    expect(loadConfig({ KEYMINT_ARGON2_CONCURRENCY: "3" }).KEYMINT_ARGON2_CONCURRENCY).toBe(3);
    const raised = { KEYMINT_ARGON2_CONCURRENCY: "8", UV_THREADPOOL_SIZE: "9" };
    expect(loadConfig(raised).KEYMINT_ARGON2_CONCURRENCY).toBe(8);
    // A pool of one thread is all argon2's: one hash at a time, whatever is asked for beyond it.
    expect(
      loadConfig({ KEYMINT_ARGON2_CONCURRENCY: "1", UV_THREADPOOL_SIZE: "1" }).KEYMINT_ARGON2_CONCURRENCY,
    ).toBe(1);
  });

  it("refuses as many hashes at once as libuv's pool has threads, naming both settings", () => {
    expect(configError({ KEYMINT_ARGON2_CONCURRENCY: "4" })).toBe(
      "Invalid configuration:\n  KEYMINT_ARGON2_CONCURRENCY: must be at most 3, one fewer than libuv's thread pool of 4 " +
        "(UV_THREADPOOL_SIZE, 4 when unset), so that a thread stays free for the log's writes: raise UV_THREADPOOL_SIZE with it",
    );
    expect(configError({ KEYMINT_ARGON2_CONCURRENCY: "2", UV_THREADPOOL_SIZE: "nonsense" })).toMatch(
      /KEYMINT_ARGON2_CONCURRENCY: must be at most 1, one fewer than libuv's thread pool of 1 /,
    );
    expect(configError({ KEYMINT_ARGON2_CONCURRENCY: "0" })).toBe(
      "Invalid configuration:\n  KEYMINT_ARGON2_CONCURRENCY: must be a whole number from 1 to 1023",
    );
    // Named beside the other bad settings.
    expect(configError({ KEYMINT_ARGON2_CONCURRENCY: "4", PORT: "x" }).split("\n")).toHaveLength(3);
  });

  // On a machine of 2 cores every default is 1: 16 cores make the pool, read from the env given, decide.
  it("reads the default's UV_THREADPOOL_SIZE from the env it is given, not the process's", async () => {
    vi.resetModules();
    vi.doMock("node:os", async (importOriginal) => ({
      ...(await importOriginal<typeof import("node:os")>()),
      availableParallelism: () => 16,
    }));
    try {
      const { loadConfig: load } = await import("../../src/config.js");
      expect(load({ UV_THREADPOOL_SIZE: "1" }).KEYMINT_ARGON2_CONCURRENCY).toBe(1);
      expect(load({ UV_THREADPOOL_SIZE: "3" }).KEYMINT_ARGON2_CONCURRENCY).toBe(2);
      expect(load({ UV_THREADPOOL_SIZE: "64" }).KEYMINT_ARGON2_CONCURRENCY).toBe(15);
      expect(load({}).KEYMINT_ARGON2_CONCURRENCY).toBe(3);
    } finally {
      vi.doUnmock("node:os");
      vi.resetModules();
    }
  });
});

describe("loadConfig: KEYMINT_CORS_ORIGINS", () => {
  it("normalises each origin to what a browser sends in Origin: lowercase host, no default port, punycode", () => {
    const config = loadConfig({
      KEYMINT_CORS_ORIGINS:
        " https://Dash.Example.com , https://a.com:443,HTTP://a.com:80/,http://localhost:5173,https://bücher.example,https://dash.example.com",
    });
    expect(config.KEYMINT_CORS_ORIGINS).toStrictEqual([
      "https://dash.example.com",
      "https://a.com",
      "http://a.com",
      "http://localhost:5173",
      "https://xn--bcher-kva.example",
    ]);
  });

  it("rejects anything but scheme://host[:port], naming KEYMINT_CORS_ORIGINS and the bad entry", () => {
    for (const entry of [
      "https://a.com/app",
      "https://a.com?x=1",
      "https://a.com?",
      "https://a.com#top",
      "https://a.com\\path",
      "ftp://a.com",
      "file:///etc/passwd",
      "*",
      "null",
      "a.com",
      "https://",
      "https://a.com:99999",
    ]) {
      expect(configError({ KEYMINT_CORS_ORIGINS: `https://ok.example.com,${entry}` }), entry).toBe(
        `Invalid configuration:\n  KEYMINT_CORS_ORIGINS: "${entry}" ${ORIGIN_RULE}`,
      );
    }
  });

  it("rejects an origin with credentials without repeating them", () => {
    const message = configError({ KEYMINT_CORS_ORIGINS: "https://admin:s3cret@a.com" });
    expect(message).toBe(
      "Invalid configuration:\n  KEYMINT_CORS_ORIGINS: an entry holds a user name or password; list scheme://host[:port] only",
    );
  });

  it("lets a browser's Origin through the CORS middleware for an origin listed in another spelling", async () => {
    const { KEYMINT_CORS_ORIGINS } = loadConfig({ KEYMINT_CORS_ORIGINS: "https://Dash.Example.com:443" });
    const app = new Hono().use(corsForOrigins(KEYMINT_CORS_ORIGINS)).get("/", (c) => c.text("ok"));
    const response = await app.request("/", { headers: { origin: "https://dash.example.com" } });
    expect(response.headers.get("access-control-allow-origin")).toBe("https://dash.example.com");
  });

  it("still treats an empty or all-commas value as no origins", () => {
    expect(loadConfig({ KEYMINT_CORS_ORIGINS: "" }).KEYMINT_CORS_ORIGINS).toStrictEqual([]);
    expect(loadConfig({ KEYMINT_CORS_ORIGINS: " , ," }).KEYMINT_CORS_ORIGINS).toStrictEqual([]);
    expect(configError({ KEYMINT_CORS_ORIGINS: ", https://a.com/x" })).toBe(
      `Invalid configuration:\n  KEYMINT_CORS_ORIGINS: "https://a.com/x" ${ORIGIN_RULE}`,
    );
  });
});

describe("loadConfig: the other settings of contract §7", () => {
  it("defaults PORT to 3000, KEYMINT_DB to ./data/keymint.db, the cache to 100,000 keys for 60 s and LOG_LEVEL to info", () => {
    expect(loadConfig({})).toMatchObject({
      PORT: 3000,
      KEYMINT_DB: "./data/keymint.db",
      KEYMINT_CACHE_MAX: 100_000,
      KEYMINT_CACHE_TTL_MS: 60_000,
      LOG_LEVEL: "info",
    });
  });

  it.each([
    ["PORT", ["0", "65535"], ["-1", "65536", "80.5", "http", "3000x"]],
    ["KEYMINT_CACHE_MAX", ["1"], ["0", "-5", "1e3", "many"]],
    ["KEYMINT_CACHE_TTL_MS", ["1", "86400000"], ["0", "86400001", "1.5", "60s"]],
    ["LOG_LEVEL", ["fatal", "error", "warn", "info", "debug", "trace", "silent"], ["verbose", "INFO!", "30"]],
  ])("takes the values %s allows and stops at any other, naming it", (name, good, bad) => {
    for (const value of good) expect(String(loadConfig({ [name]: value })[name as keyof Config])).toBe(value);
    for (const value of bad) {
      expect(configError({ [name]: value }), value).toMatch(
        new RegExp(`^Invalid configuration:\\n {2}${name}: `),
      );
    }
  });
});

describe("loadConfig: whole-number settings", () => {
  it("name their range whatever is wrong with the value: below, above, a fraction or no number", () => {
    const refusal = (name: string, range: string) =>
      `Invalid configuration:\n  ${name}: must be a whole number ${range}`;
    for (const value of ["-1", "65536", "80.5", "http"]) {
      expect(configError({ PORT: value }), value).toBe(refusal("PORT", "from 0 to 65535"));
    }
    for (const value of ["-1", "3600001", "5s"]) {
      expect(configError({ KEYMINT_ARGON2_MAX_WAIT_MS: value }), value).toBe(
        refusal("KEYMINT_ARGON2_MAX_WAIT_MS", "from 0 to 3600000"),
      );
    }
    expect(configError({ KEYMINT_CACHE_TTL_MS: "0" })).toBe(
      refusal("KEYMINT_CACHE_TTL_MS", "from 1 to 86400000"),
    );
    expect(configError({ KEYMINT_CACHE_MAX: "-5" })).toBe(refusal("KEYMINT_CACHE_MAX", "from 1 to 10000000"));
  });
});

describe("KEYMINT_TRUST_PROXY", () => {
  it.each([
    ["true", true],
    ["1", true],
    ["false", false],
    ["0", false],
  ])("%s -> %s", (value, expected) => {
    expect(loadConfig({ KEYMINT_TRUST_PROXY: value }).KEYMINT_TRUST_PROXY).toBe(expected);
  });
  it("defaults to false and refuses anything else, naming it", () => {
    expect(loadConfig({}).KEYMINT_TRUST_PROXY).toBe(false);
    expect(() => loadConfig({ KEYMINT_TRUST_PROXY: "yes" })).toThrow(ConfigError);
    expect(() => loadConfig({ KEYMINT_TRUST_PROXY: "yes" })).toThrow(/KEYMINT_TRUST_PROXY/);
  });
});
