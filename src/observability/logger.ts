import pino, { type Logger } from "pino";
import { SECRET_SCANNER_REGEX } from "../keys/format.js";

export type { Logger };

/** Paths pino removes from any object it logs, as a second line of defence behind never logging them. */
const REDACT_PATHS = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  "key",
  "*.key",
  "hash",
  "*.hash",
  "token",
  "*.token",
];

const KEY_ANYWHERE = new RegExp(SECRET_SCANNER_REGEX.source, "g");
const HEX_DIGEST = /\b[0-9a-f]{64}\b/g;
const ARGON2_HASH = /\$argon2[a-z]*\$[^\s"']+/g;

/** Removes anything shaped like a key or a stored hash from free text (error messages, stacks). */
export function scrubSecrets(text: string): string {
  return text
    .replace(KEY_ANYWHERE, "[redacted key]")
    .replace(ARGON2_HASH, "[redacted hash]")
    .replace(HEX_DIGEST, "[redacted hash]");
}

export interface LoggerOptions {
  level: string;
  /** Human-readable lines: only when a person is watching a terminal. */
  pretty?: boolean;
  /** Where JSON lines go; stdout (asynchronously, so logging never blocks a request) by default. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    base: undefined,
  };
  if (options.destination) return pino(base, options.destination);
  if (options.pretty)
    return pino({ ...base, transport: { target: "pino-pretty", options: { colorize: true } } });
  return pino(base, pino.destination({ dest: 1, sync: false }));
}
