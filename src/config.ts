import { isIP } from "node:net";
import { z } from "zod";
import { defaultArgon2Concurrency, threadPoolSize } from "./keys/argon2-queue.js";

/** Log levels accepted by LOG_LEVEL (pino's names). */
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/**
 * The largest KEYMINT_CACHE_MAX. lru-cache reserves room for every entry when it is built (the verify
 * cache and its unknown-key LRU: about 35 bytes per unit of the setting), so the setting costs memory
 * before any key is cached. Measured on an empty database with `node dist/index.js`, RSS 2 s after
 * /healthz first answers: 100,000 (the default) 103 MB after 0.3 s, 10,000,000 443 MB after 1.1 s
 * (2026-11-29). Before the rate windows left their LRU of the same size: 10,000,000 at 580 MB after
 * 2.0 s, 20,000,000 at 1.07 GB after 3.6 s, and 50,000,000 a 5.4 GB peak after 49 s, up against V8's
 * default 4 GB heap.
 */
export const CACHE_MAX_LIMIT = 10_000_000;

// Every refusal names the range, so that a fix needs no trip to the README.
const integer = (min: number, max: number, tooBig?: string) => {
  const range = `must be a whole number from ${min} to ${max}`;
  return z
    .string()
    .regex(/^\d+$/, range)
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, range)
        .max(max, tooBig ?? range),
    );
};

// RFC 1123 §2.1: letters, digits and inner hyphens, up to 63 per label and 253 in all; the last label is
// never all digits, so that 999.1.1.1 is a bad address rather than a name to look up.
const HOSTNAME_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function isHostname(value: string): boolean {
  const labels = value.split(".");
  return (
    value.length <= 253 &&
    labels.every((label) => HOSTNAME_LABEL.test(label)) &&
    !/^\d+$/.test(labels[labels.length - 1] ?? "")
  );
}

// A token is sent as `Authorization: Bearer <token>`, and src/auth/bearer.ts takes one run of
// non-space characters; only visible ASCII reaches it byte for byte from every client.
const bearerToken = z
  .string()
  .min(16, "must be at least 16 characters")
  .regex(
    /^[\x21-\x7e]+$/,
    "must be visible ASCII only (no spaces, control or non-ASCII characters): it is sent as `Authorization: Bearer <token>`",
  );

const ORIGIN_SHAPE = /^https?:\/\/[^/?#]+\/?$/i;

/**
 * An origin as a browser sends it in `Origin` (lowercase scheme and host, punycode, no default port),
 * which is what the CORS middleware compares, string for string; undefined when `value` is not an origin.
 */
function normalizeOrigin(value: string): string | undefined {
  if (!ORIGIN_SHAPE.test(value)) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  const bare = url.username === "" && url.password === "" && url.pathname === "/" && url.search === "";
  return bare && url.hash === "" ? url.origin : undefined;
}

const configSchema = z.object({
  PORT: integer(0, 65535).default(3000),
  HOST: z
    .string()
    .refine(
      (value) => isIP(value) !== 0 || isHostname(value),
      "must be an IPv4 or IPv6 address (::1, without brackets) or a hostname such as localhost",
    )
    .default("0.0.0.0"),
  KEYMINT_DB: z
    .string()
    .min(1)
    // better-sqlite3 reads no URIs: "file:k.db" would be a file of that name, made without the 0600 mode.
    .refine((value) => !/^\s*file:/i.test(value), "must be a file path or :memory:, not a file: URI")
    .default("./data/keymint.db"),
  KEYMINT_ADMIN_TOKEN: bearerToken.optional(),
  KEYMINT_METRICS_TOKEN: bearerToken.optional(),
  KEYMINT_CACHE_MAX: integer(
    1,
    CACHE_MAX_LIMIT,
    `must be at most ${CACHE_MAX_LIMIT}: the cache reserves about 35 bytes per entry at start-up, before any key is cached (about 350 MB at the limit)`,
  ).default(100_000),
  KEYMINT_CACHE_TTL_MS: integer(1, 86_400_000).default(60_000),
  KEYMINT_CORS_ORIGINS: z
    .string()
    .default("")
    .transform((value, context) => {
      const origins = new Set<string>();
      for (const part of value.split(",").map((entry) => entry.trim())) {
        if (part === "") continue;
        const origin = normalizeOrigin(part);
        if (origin !== undefined) {
          origins.add(origin);
        } else if (part.includes("@")) {
          // Never echo what may be a password.
          context.addIssue("an entry holds a user name or password; list scheme://host[:port] only");
        } else {
          context.addIssue(
            `"${part}" is not an origin: list http(s)://host[:port] only (no path, query or fragment), e.g. https://app.example.com`,
          );
        }
      }
      return [...origins];
    }),
  // The longest a new argon2 hash may expect to wait for its turn before it is refused with a 503.
  KEYMINT_ARGON2_MAX_WAIT_MS: integer(0, 3_600_000).default(5_000),
  // How many argon2 hashes run at once; unset, one fewer than there are cores (defaultArgon2Concurrency).
  KEYMINT_ARGON2_CONCURRENCY: integer(1, 1023).optional(),
  KEYMINT_TRUST_PROXY: z
    .enum(["true", "false", "1", "0"])
    .default("false")
    .transform((value) => value === "true" || value === "1"),
  LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
});

export type Config = Omit<z.infer<typeof configSchema>, "KEYMINT_ARGON2_CONCURRENCY"> & {
  KEYMINT_ARGON2_CONCURRENCY: number;
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * The only reader of process.env. Empty strings count as unset so that `FOO= npm start` means default.
 * Throws ConfigError naming every bad variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input: Record<string, string> = {};
  for (const name of Object.keys(configSchema.shape)) {
    const value = env[name];
    if (value !== undefined && value !== "") input[name] = value;
  }
  const result = configSchema.safeParse(input);
  const lines = result.success
    ? []
    : result.error.issues.map((issue) => `  ${issue.path.join(".")}: ${issue.message}`);
  // libuv's pool runs argon2's hashes and the log's writes: one of its threads stays free (unless it has one).
  const pool = threadPoolSize(env);
  const most = Math.max(1, pool - 1);
  // Read on its own, so that it is checked against the pool whatever else is wrong.
  const given = configSchema.shape.KEYMINT_ARGON2_CONCURRENCY.safeParse(
    input.KEYMINT_ARGON2_CONCURRENCY,
  ).data;
  if (given !== undefined && given > most) {
    lines.push(
      `  KEYMINT_ARGON2_CONCURRENCY: must be at most ${most}, one fewer than libuv's thread pool of ${pool} ` +
        "(UV_THREADPOOL_SIZE, 4 when unset), so that a thread stays free for the log's writes: raise UV_THREADPOOL_SIZE with it",
    );
  }
  const concurrency = given ?? defaultArgon2Concurrency(env);
  if (!result.success || lines.length > 0)
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  return { ...result.data, KEYMINT_ARGON2_CONCURRENCY: concurrency };
}
