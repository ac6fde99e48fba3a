import { z } from "@hono/zod-openapi";
import { PERMISSIONS } from "../auth/permissions.js";
import { holdsKey, PREFIX_PATTERN, ROOT_KEY_PREFIX } from "../keys/format.js";
import { ERROR_CODES } from "../lib/errors.js";
import { everyText } from "../lib/every-text.js";
import { AUDIT_ACTIONS } from "../services/audit.js";
import { VERIFY_CODES } from "../verify/verify.js";

/* The schemas requests are validated with and the OpenAPI document is generated from: one source. */

const MAX_META_BYTES = 4096;
export const MAX_REMAINING = 2 ** 31;

// The last instant RFC 3339 can write: a later one would be answered as "+010000-…", which is no date-time.
const LAST_ISO_TIME = Date.parse("9999-12-31T23:59:59.999Z");
/**
 * The bound, as the validation error says it and the OpenAPI descriptions of the time fields (JSON
 * Schema cannot): each field describes itself, which replaces a description given here.
 */
export const AT_MOST_LAST_ISO_TIME = "at most 9999-12-31T23:59:59.999Z";
export const IsoTime = z.iso
  .datetime({ offset: true })
  .refine((time) => Date.parse(time) <= LAST_ISO_TIME, `must be ${AT_MOST_LAST_ISO_TIME}`)
  .openapi({ example: "2026-11-27T04:00:00.000Z" });
const IsoTimeOut = z.string().openapi({ format: "date-time", example: "2026-11-27T04:00:00.000Z" });

// What is stored and shown again must be Unicode: SQLite stores a lone surrogate ("\ud800") as U+FFFD,
// so two ownerIds differing only there would be one owner (and the 201 would echo what was not stored).
const NOT_UNICODE = "must be valid Unicode: it holds a lone surrogate (\\ud800 to \\udfff)";
// A key is shown once, when it is created; these fields are shown on every read, in every list and
// audit event, and (a key's) in every verify answer, so they may not hold one. (A revocation's reason
// is free text written in a hurry: a key in it is redacted instead, so that the revocation goes through.)
const NO_KEY = "must not hold an API key: a key is shown only when it is created, this field on every read";

/** Text a client stores and every read shows: Unicode, with no key in it. */
const storedText = (text: z.ZodString) =>
  text.refine((value) => value.isWellFormed(), NOT_UNICODE).refine((value) => !holdsKey(value), NO_KEY);

const STORED_TEXT_RULE =
  "Valid Unicode (no lone surrogate), and holding no API key, nor this deployment's admin or metrics token.";
export const Name = storedText(z.string().min(1).max(128)).openapi({
  example: "production backend",
  description: STORED_TEXT_RULE,
});
export const OwnerId = storedText(z.string().min(1).max(256)).openapi({
  example: "customer_42",
  description: STORED_TEXT_RULE,
});
/** An ownerId to filter by: only compared with what is stored, so any string of that length. */
export const OwnerIdFilter = z.string().min(1).max(256);
export const Scope = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, "must be 1 to 64 of A-Z a-z 0-9 _ . : -")
  .openapi({ example: "documents:read" });
/**
 * Scopes a verify asks for: any strings (the body's 64 KiB bounds them). Each is matched exactly against
 * the key's own, so one a key could never hold (`docs:*`, `*`, "") is INSUFFICIENT_SCOPES, not a 400:
 * §5 answers every well-formed request 200, and "no wildcards" (§3) means a wildcard matches nothing.
 */
export const RequestedScopes = z.array(z.string());
/** A key's own scopes (and a keyspace's defaults), shown on every read: 64 characters can hold a key. */
export const StoredScopes = z
  .array(Scope.refine((scope) => !holdsKey(scope), NO_KEY))
  .max(100)
  .openapi({ description: "No scope may hold an API key, nor this deployment's admin or metrics token." });
// Checked on the parsed JSON itself: the record's output has already dropped a "__proto__" key.
export const Meta = z
  .preprocess(
    (meta, ctx) => {
      if (typeof meta === "object" && meta !== null && Object.hasOwn(meta, "__proto__")) {
        ctx.addIssue({ code: "custom", message: "must not have a __proto__ key", input: meta });
      }
      return meta;
    },
    z
      .record(z.string(), z.unknown())
      // Past 4 KiB nothing else is looked at: the body may be 64 KiB.
      .refine((meta) => Buffer.byteLength(JSON.stringify(meta)) <= MAX_META_BYTES, {
        message: "must be at most 4 KiB as JSON",
        abort: true,
      })
      .refine((meta) => everyText(meta, (text) => text.isWellFormed()), NOT_UNICODE)
      // As JSON text: quotes end every name and string, so a key is found whole or not at all.
      .refine((meta) => !holdsKey(JSON.stringify(meta)), NO_KEY),
  )
  .openapi({
    type: "object",
    additionalProperties: {},
    example: { plan: "pro" },
    description:
      "At most 4 KiB as JSON; no __proto__ field, and no string or field name with a lone surrogate, an API key, or this deployment's admin or metrics token.",
  });
export const Remaining = z.number().int().min(0).max(MAX_REMAINING).openapi({ example: 1000 });
export const Refill = z
  .strictObject({
    amount: z.number().int().min(1).max(MAX_REMAINING),
    interval: z.enum(["daily", "monthly"]),
  })
  .openapi({ example: { amount: 1000, interval: "monthly" } });
export const Ratelimit = z
  .strictObject({
    // Contract §3: at least 1, no upper bound but JSON's exact integers.
    limit: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    durationMs: z.number().int().min(1000).max(86_400_000),
  })
  .openapi({ example: { limit: 100, durationMs: 60_000 } });

// The reserved prefix is refused here, with the other field errors of the same body (contract §6:
// one entry per bad field), not in the service after them.
export const Prefix = z
  .string()
  .regex(PREFIX_PATTERN, "must match ^[a-z][a-z0-9]{0,15}(_[a-z0-9]{1,16})?$")
  .refine((prefix) => prefix !== ROOT_KEY_PREFIX, `"${ROOT_KEY_PREFIX}" is reserved for root keys`)
  .openapi({ example: "dm_live", description: `Not "${ROOT_KEY_PREFIX}", which is reserved for root keys.` });

export const KeyDefaults = z
  .strictObject({
    expiresInSeconds: z
      .number()
      .int()
      .min(1)
      .max(100 * 365 * 86_400)
      .optional(),
    remaining: Remaining.optional(),
    refill: Refill.optional(),
    ratelimit: Ratelimit.optional(),
    scopes: StoredScopes.optional(),
  })
  .openapi("KeyDefaults");

export const PermissionGrant = z.enum(["*", ...PERMISSIONS]).openapi({ example: "keys:verify" });

// No length limit: an id of any length that names nothing is 404, like any other unknown id.
const idParam = (example: string) =>
  z.strictObject({
    id: z
      .string()
      .min(1)
      .openapi({ param: { name: "id", in: "path" }, example }),
  });
export const KeyIdParam = idParam("key_4fJ9kQ2mXa1B");
export const KeyspaceIdParam = idParam("ksp_3kPq9ZxL2mN8bV4c");
export const RootKeyIdParam = idParam("rk_a1B2c3D4e5F6");

/**
 * `?limit=`, written in decimal digits. z.coerce alone runs Number(), which also takes "0x10", "0b11",
 * "1e1", "+7" and " 5": a limit the client did not mean to write passes silently.
 */
export const Limit = z
  .string()
  .regex(/^[0-9]+$/, "must be a whole number written in decimal digits")
  .transform(Number)
  .pipe(z.number().int().min(1).max(100))
  .default(50)
  .openapi({ type: "integer", minimum: 1, maximum: 100, default: 50 });
export const Cursor = z.string().min(1).max(256);

// Responses

export const Workspace = z
  .object({
    id: z.string().openapi({ example: "ws_8Hd2kLq0Zx1Pm3Nb" }),
    name: z.string(),
    createdAt: IsoTimeOut,
  })
  .openapi("Workspace");

export const Keyspace = z
  .object({
    id: z.string().openapi({ example: "ksp_3kPq9ZxL2mN8bV4c" }),
    workspaceId: z.string(),
    name: z.string(),
    prefix: z.string().openapi({ example: "dm_live" }),
    hashAlgorithm: z.enum(["sha256", "argon2id"]),
    defaults: KeyDefaults,
    createdAt: IsoTimeOut,
    updatedAt: IsoTimeOut,
  })
  .openapi("Keyspace");

const keyFields = {
  id: z.string().openapi({ example: "key_4fJ9kQ2mXa1B" }),
  keyspaceId: z.string(),
  workspaceId: z.string(),
  ownerId: z.string().nullable(),
  name: z.string().nullable(),
  start: z.string().openapi({ example: "dm_live_4fJ9kQ2mXa1B" }),
  last4: z.string().openapi({ example: "ghly" }),
  meta: z.record(z.string(), z.unknown()),
  scopes: z.array(z.string()),
  enabled: z.boolean(),
  createdAt: IsoTimeOut,
  updatedAt: IsoTimeOut,
  expiresAt: IsoTimeOut.nullable(),
  revokedAt: IsoTimeOut.nullable(),
  revokedReason: z.string().nullable(),
  lastUsedAt: IsoTimeOut.nullable().openapi({
    description:
      "The time of the latest VALID verify, exact: stored at most once a minute, and answered from memory meanwhile.",
  }),
  remaining: z.number().int().nullable(),
  refill: Refill.nullable(),
  ratelimit: Ratelimit.nullable(),
  rotatedFromId: z.string().nullable(),
  replacedById: z.string().nullable(),
};
export const Key = z.object(keyFields).openapi("Key");
const PlaintextKey = z.string().openapi({
  description: "The key itself. Shown only in this response.",
  example: "dm_live_4fJ9kQ2mXa1Bq8ZrT3vLw0YpN6cHs2KdF9gJm4XbR7tE3ighly",
});
export const CreatedKey = z.object({ key: PlaintextKey, ...keyFields }).openapi("CreatedKey");

const rootKeyFields = {
  id: z.string().openapi({ example: "rk_a1B2c3D4e5F6" }),
  workspaceId: z.string(),
  name: z.string(),
  start: z.string().openapi({ example: "km_root_a1B2c3D4e5F6" }),
  last4: z.string().openapi({ example: "mlUd" }),
  permissions: z.array(PermissionGrant),
  ownerId: z.string().nullable(),
  createdAt: IsoTimeOut,
  revokedAt: IsoTimeOut.nullable(),
  lastUsedAt: IsoTimeOut.nullable(),
};
export const RootKey = z.object(rootKeyFields).openapi("RootKey");
const PlaintextRootKey = PlaintextKey.openapi({
  example: "km_root_a1B2c3D4e5F6q8ZrT3vLw0YpN6cHs2KdF9gJm4XbR7tE1VmlUd",
});
export const CreatedRootKey = z.object({ key: PlaintextRootKey, ...rootKeyFields }).openapi("CreatedRootKey");

export const AuditEvent = z
  .object({
    id: z.string().openapi({ example: "evt_Zk3mP9qL2xN7bV1c" }),
    time: IsoTimeOut,
    workspaceId: z.string(),
    actor: z.object({ type: z.enum(["root_key", "admin", "system"]), id: z.string().nullable() }),
    action: z.enum(AUDIT_ACTIONS),
    resourceType: z.string(),
    resourceId: z.string(),
    requestId: z.string(),
    ip: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
  })
  .openapi("AuditEvent");

export const VerifyCode = z.enum(VERIFY_CODES).openapi("VerifyCode");

export const VerifyResult = z
  .object({
    valid: z.boolean(),
    code: VerifyCode,
    keyId: z.string().optional(),
    keyspaceId: z.string().optional(),
    ownerId: z.string().nullable().optional(),
    name: z.string().nullable().optional(),
    meta: z.record(z.string(), z.unknown()).optional(),
    scopes: z.array(z.string()).optional(),
    expiresAt: IsoTimeOut.nullable().optional(),
    remaining: z.number().int().optional(),
    ratelimit: z
      .object({ limit: z.number().int(), remaining: z.number().int(), resetAt: IsoTimeOut })
      .optional(),
  })
  .openapi("VerifyResult", {
    example: {
      valid: true,
      code: "VALID",
      keyId: "key_4fJ9kQ2mXa1B",
      keyspaceId: "ksp_3kPq9ZxL2mN8bV4c",
      ownerId: "customer_42",
      name: "production backend",
      meta: { plan: "pro" },
      scopes: ["documents:read"],
      expiresAt: null,
      remaining: 999,
    },
  });

export const UsageBucket = z
  .object({
    time: IsoTimeOut,
    valid: z.number().int(),
    invalid: z.number().int(),
    byCode: z.record(z.string(), z.number().int()),
  })
  .openapi("UsageBucket");

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.enum(ERROR_CODES),
    requestId: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem", {
    example: {
      type: "https://keymint.dev/problems/validation-failed",
      title: "Validation Failed",
      status: 400,
      detail: "The request is not valid.",
      code: "VALIDATION_FAILED",
      requestId: "3f1c2a9e-1b7d-4c55-a2a9-0e6f4b8b9d21",
      errors: [{ path: "name", message: "Too big: expected string to have <=128 characters" }],
    },
  });

export const Health = z.object({ status: z.literal("ok") }).openapi("Health");
