import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { PermissionGrant } from "../auth/permissions.js";
import type { AuditAction } from "../services/audit.js";

/*
 * Every table has an integer `seq` (AUTOINCREMENT: never reused) that orders lists exactly, even
 * within one millisecond, and serves as the pagination cursor. Public ids are separate text columns.
 * Times are integers, milliseconds since the epoch.
 */

export const settings = sqliteTable("settings", {
  name: text("name").primaryKey(),
  value: text("value").notNull(),
});

export const workspaces = sqliteTable("workspaces", {
  seq: integer("seq").primaryKey({ autoIncrement: true }),
  id: text("id").notNull().unique(),
  name: text("name").notNull(),
  createdAt: integer("created_at").notNull(),
});

export type KeyDefaults = {
  expiresInSeconds?: number;
  remaining?: number;
  refill?: { amount: number; interval: "daily" | "monthly" };
  ratelimit?: { limit: number; durationMs: number };
  scopes?: string[];
};

export const keyspaces = sqliteTable(
  "keyspaces",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull().unique(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    prefix: text("prefix").notNull().unique(),
    hashAlgorithm: text("hash_algorithm", { enum: ["sha256", "argon2id"] }).notNull(),
    defaults: text("defaults", { mode: "json" }).$type<KeyDefaults>().notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (table) => [index("keyspaces_workspace_seq").on(table.workspaceId, table.seq)],
);

export const keys = sqliteTable(
  "keys",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    /** `key_<keyId>`: the lookup on verify. */
    id: text("id").notNull(),
    keyspaceId: text("keyspace_id")
      .notNull()
      .references(() => keyspaces.id),
    workspaceId: text("workspace_id").notNull(),
    ownerId: text("owner_id"),
    name: text("name"),
    start: text("start").notNull(),
    last4: text("last4").notNull(),
    /** Hex SHA-256 of the whole key, or an argon2id PHC string. */
    hash: text("hash").notNull(),
    meta: text("meta", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    scopes: text("scopes", { mode: "json" }).$type<string[]>().notNull(),
    enabled: integer("enabled", { mode: "boolean" }).notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    expiresAt: integer("expires_at"),
    revokedAt: integer("revoked_at"),
    revokedReason: text("revoked_reason"),
    lastUsedAt: integer("last_used_at"),
    remaining: integer("remaining"),
    refillAmount: integer("refill_amount"),
    refillInterval: text("refill_interval", { enum: ["daily", "monthly"] }),
    /** When `remaining` was last reset by a refill (or set by hand). */
    refilledAt: integer("refilled_at"),
    ratelimitLimit: integer("ratelimit_limit"),
    ratelimitDurationMs: integer("ratelimit_duration_ms"),
    rotatedFromId: text("rotated_from_id"),
    replacedById: text("replaced_by_id"),
    /** Set on a rotated-away key: the key whose `remaining` it spends, so rotation never multiplies credits. */
    creditsKeyId: text("credits_key_id"),
  },
  (table) => [
    uniqueIndex("keys_id").on(table.id),
    index("keys_workspace_seq").on(table.workspaceId, table.seq),
    index("keys_keyspace_seq").on(table.keyspaceId, table.seq),
    index("keys_workspace_owner_seq").on(table.workspaceId, table.ownerId, table.seq),
    index("keys_credits_key").on(table.creditsKeyId),
  ],
);

export const rootKeys = sqliteTable(
  "root_keys",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull().unique(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    start: text("start").notNull(),
    last4: text("last4").notNull(),
    hash: text("hash").notNull(),
    permissions: text("permissions", { mode: "json" }).$type<PermissionGrant[]>().notNull(),
    ownerId: text("owner_id"),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
    lastUsedAt: integer("last_used_at"),
  },
  (table) => [index("root_keys_workspace_seq").on(table.workspaceId, table.seq)],
);

export const auditEvents = sqliteTable(
  "audit_events",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull().unique(),
    time: integer("time").notNull(),
    workspaceId: text("workspace_id").notNull(),
    actorType: text("actor_type", { enum: ["root_key", "admin", "system"] }).notNull(),
    actorId: text("actor_id"),
    action: text("action").$type<AuditAction>().notNull(),
    resourceType: text("resource_type").notNull(),
    resourceId: text("resource_id").notNull(),
    /** The ownerId of the key an event is about, so owner-bound root keys see only their owner's events. */
    ownerId: text("owner_id"),
    /** On a key.update that moved the key to another owner, the owner it was taken from: it sees the event too. */
    previousOwnerId: text("previous_owner_id"),
    requestId: text("request_id").notNull(),
    ip: text("ip"),
    details: text("details", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
  },
  (table) => [
    index("audit_workspace_seq").on(table.workspaceId, table.seq),
    index("audit_workspace_resource_seq").on(table.workspaceId, table.resourceId, table.seq),
    index("audit_workspace_owner_seq").on(table.workspaceId, table.ownerId, table.seq),
    // Set only on the rare owner change: a partial index costs the other events nothing.
    index("audit_workspace_previous_owner_seq")
      .on(table.workspaceId, table.previousOwnerId, table.seq)
      .where(sql`previous_owner_id IS NOT NULL`),
    index("audit_workspace_time").on(table.workspaceId, table.time),
  ],
);

/** Verification counts per key, per UTC hour, per outcome code. */
export const keyUsage = sqliteTable(
  "key_usage",
  {
    keyId: text("key_id").notNull(),
    hour: integer("hour").notNull(),
    code: text("code").notNull(),
    count: integer("count").notNull(),
  },
  (table) => [primaryKey({ columns: [table.keyId, table.hour, table.code] })],
);

export type WorkspaceRow = typeof workspaces.$inferSelect;
export type KeyspaceRow = typeof keyspaces.$inferSelect;
export type KeyRow = typeof keys.$inferSelect;
export type RootKeyRow = typeof rootKeys.$inferSelect;
export type AuditEventRow = typeof auditEvents.$inferSelect;
export type NewAuditEvent = Omit<typeof auditEvents.$inferInsert, "seq">;
