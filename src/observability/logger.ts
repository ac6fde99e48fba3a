import pino, { type Logger } from "pino";
import { SECRET_SCANNER_REGEX } from "../keys/format.js";

export type { Logger };

/** Fields whose values a log line never holds: a second line of defence behind never logging them. */
const SECRET_FIELDS = new Set(["authorization", "key", "hash", "token"]);

/**
 * pino's own redaction of those fields, by path: it reaches them one level into any object (a class
 * instance, an Error logged under another name) and in a child logger's bindings, which the walk below
 * does not; the walk reaches them at any depth in plain objects and arrays, which paths cannot.
 */
const REDACT_PATHS = [...SECRET_FIELDS].flatMap((field) => [field, `*.${field}`]);

const isPlainObject = (value: object) => {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
};

/**
 * A copy of what is logged with the value of every field named `authorization`, `key`, `hash` or
 * `token` (any case) replaced, however deep in plain objects and arrays. Nothing else is walked (a
 * copy of a Date, a Buffer or a class instance would not serialize as the original does): REDACT_PATHS
 * covers those one level down; `walks` may let more in. A cycle is cut where it closes: the original
 * object there would bring its unredacted fields back.
 */
function redactSecretFields(
  value: unknown,
  walks: (object: object) => boolean = isPlainObject,
  ancestors = new Set<object>(),
): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (!Array.isArray(value) && !walks(value)) return value;
  if (ancestors.has(value)) return "[Circular]";
  ancestors.add(value);
  const copy = Array.isArray(value)
    ? value.map((item) => redactSecretFields(item, walks, ancestors))
    : Object.fromEntries(
        Object.entries(value).map(([name, field]) => [
          name,
          SECRET_FIELDS.has(name.toLowerCase()) ? "[redacted]" : redactSecretFields(field, walks, ancestors),
        ]),
      );
  ancestors.delete(value);
  return copy;
}

// Without the scanner regex's word boundaries: a key or a digest run into other characters
// ("x<key>", "<digest>0", "req_<key>") is still a key or a digest.
const KEY_ANYWHERE = new RegExp(SECRET_SCANNER_REGEX.source.replaceAll("\\b", ""), "g");
// Either case: a client may send a digest upper-cased (a request id is echoed and stored). A SHA-256
// digest in hex holds digits and letters both (all but about one in 10^13 do), while filler a client
// may send as an id ("aaaa…", "0000…", sized to the 128-char limit) holds only one kind: only a run
// with both is taken for a digest, so such an id is still echoed as the contract asks.
const HEX_RUN = /[0-9a-fA-F]{64,}/g;
const looksLikeDigest = (run: string) => /[0-9]/.test(run) && /[a-fA-F]/.test(run);

/** Whether `text` holds a run of hex that would be taken for a SHA-256 digest (see HEX_RUN). */
export function holdsDigest(text: string): boolean {
  return (text.match(HEX_RUN) ?? []).some(looksLikeDigest);
}
// Stops at quotes and backslashes, so scrubbing a serialized JSON line keeps it valid JSON.
const ARGON2_HASH = /\$argon2[a-z]*\$[^\s"'\\]+/g;

/** Removes anything shaped like a key or a stored hash from free text (error messages, stacks, log lines). */
export function scrubSecrets(text: string): string {
  return text
    .replace(KEY_ANYWHERE, "[redacted key]")
    .replace(ARGON2_HASH, "[redacted hash]")
    .replace(HEX_RUN, (run) => (looksLikeDigest(run) ? "[redacted hash]" : run));
}

/** This deployment's admin and metrics tokens, those that are set. */
export function configuredTokens(config: {
  KEYMINT_ADMIN_TOKEN?: string | undefined;
  KEYMINT_METRICS_TOKEN?: string | undefined;
}): string[] {
  return [config.KEYMINT_ADMIN_TOKEN, config.KEYMINT_METRICS_TOKEN].filter(
    (token): token is string => token !== undefined,
  );
}

/** Whether `text` holds one of `tokens` (configuredTokens) anywhere in it. */
export function holdsToken(text: string, tokens: readonly string[]): boolean {
  return tokens.some((token) => text.includes(token));
}

/** scrubSecrets, and this deployment's tokens too: for text a client may see or a log keeps. */
export function secretScrubber(config: {
  KEYMINT_ADMIN_TOKEN?: string | undefined;
  KEYMINT_METRICS_TOKEN?: string | undefined;
}): (text: string) => string {
  const tokens = configuredTokens(config);
  return (text) => {
    let clean = scrubSecrets(text);
    for (const token of tokens) clean = clean.replaceAll(token, "[redacted token]");
    return clean;
  };
}

/**
 * Whether to print human-readable log lines: only when stdout is a terminal and not under CI. A
 * process manager, a container runtime or a pipe gets one JSON object per line.
 */
export function wantsPrettyLogs(
  stdout: { isTTY?: boolean },
  env: Record<string, string | undefined>,
): boolean {
  const ci = env.CI;
  const underCi = ci !== undefined && ci !== "" && ci !== "false" && ci !== "0";
  return stdout.isTTY === true && !underCi;
}

export interface LoggerOptions {
  level: string;
  /** Human-readable lines: only when a person is watching a terminal (see wantsPrettyLogs). */
  pretty?: boolean;
  /** Where JSON lines go; stdout (asynchronously, so logging never blocks a request) by default. */
  destination?: pino.DestinationStream;
}

/**
 * pino's serialization of an error, with its secret fields redacted: the log formatter does not walk
 * an Error (not a plain object). pino serializes the errors inside it (an AggregateError's `errors`,
 * an own field holding an error) as objects of its own prototype: those are walked too. A `cause` is
 * folded into the message and stack, its fields left out.
 */
function serializeError(error: Error): unknown {
  const serialized = pino.stdSerializers.err(error);
  const serializedError = Object.getPrototypeOf(serialized);
  return redactSecretFields(
    serialized,
    (object) => isPlainObject(object) || Object.getPrototypeOf(object) === serializedError,
  );
}

export function createLogger(options: LoggerOptions): Logger {
  const base: pino.LoggerOptions = {
    level: options.level,
    base: undefined,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    formatters: { log: (object) => redactSecretFields(object) as Record<string, unknown> },
    // The last line of defence: whatever a caller passed (a client's request id, an error message, a
    // field not named like a secret), the line written never holds a key or a hash.
    hooks: { streamWrite: scrubSecrets },
    // pino's own serializer would turn an `err` already reduced to { type, message, stack } (scrubbed,
    // as errors.ts logs a 500) into { type: "Object", … }: only a real Error goes through it.
    serializers: {
      err: (value: unknown) => (value instanceof Error ? serializeError(value) : value),
    },
  };
  if (options.destination) return pino(base, options.destination);
  if (options.pretty)
    return pino({ ...base, transport: { target: "pino-pretty", options: { colorize: true } } });
  // No minLength buffering: it would gather more lines per write, but on a broken stdout pipe pino's
  // flush at exit retries that buffer forever (test/hardening/graceful-shutdown.test.ts).
  return pino(base, pino.destination({ dest: 1, sync: false }));
}
