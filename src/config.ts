import { z } from "zod";

/** Log levels accepted by LOG_LEVEL (pino's names). */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const origin = z.string().regex(/^https?:\/\/[^/\s]+$/, "must be an origin like https://app.example.com");

const configSchema = z.object({
  PORT: integer(0, 65535).default(3000),
  HOST: z.string().min(1).default("0.0.0.0"),
  KEYMINT_DB: z.string().min(1).default("./data/keymint.db"),
  KEYMINT_ADMIN_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  KEYMINT_METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  KEYMINT_CACHE_MAX: integer(1, 50_000_000).default(100_000),
  KEYMINT_CACHE_TTL_MS: integer(1, 86_400_000).default(60_000),
  KEYMINT_CORS_ORIGINS: z
    .string()
    .default("")
    .transform((value) =>
      value
        .split(",")
        .map((part) => part.trim())
        .filter((part) => part.length > 0),
    )
    .pipe(z.array(origin)),
  KEYMINT_TRUST_PROXY: z
    .enum(["true", "false", "1", "0"])
    .default("false")
    .transform((value) => value === "true" || value === "1"),
  LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
});

export type Config = z.infer<typeof configSchema>;

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
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  ${issue.path.join(".")}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  return result.data;
}
