import {
  and,
  desc,
  eq,
  gt,
  gte,
  inArray,
  isNotNull,
  isNull,
  lt,
  lte,
  or,
  type Placeholder,
  type SQL,
  sql,
} from "drizzle-orm";
import { canSee, type Scope } from "../auth/caller.js";
import type { Db } from "../db/client.js";
import type { GroupCommit } from "../db/group-commit.js";
import { type KeyRow, keys, keyUsage, type NewAuditEvent } from "../db/schema.js";
import { effectiveRemaining } from "../keys/credits.js";
import { startOfUtcDay, startOfUtcMonth } from "../lib/time.js";
import { insertAuditEvents } from "./audit-events.js";

export type KeyStatus = "active" | "revoked" | "expired" | "all";

export interface KeyFilter {
  workspaceId: string;
  keyspaceId?: string;
  ownerId?: string;
  status: KeyStatus;
  now: number;
  beforeSeq?: number;
  limit: number;
}

/**
 * The columns verify reads on a cache miss. A whole row costs about twice as much to read: SQLite
 * and better-sqlite3 build every column, and a miss is a lookup and little else.
 */
const verifyColumns = {
  id: keys.id,
  workspaceId: keys.workspaceId,
  keyspaceId: keys.keyspaceId,
  ownerId: keys.ownerId,
  name: keys.name,
  start: keys.start,
  hash: keys.hash,
  meta: keys.meta,
  scopes: keys.scopes,
  enabled: keys.enabled,
  expiresAt: keys.expiresAt,
  revokedAt: keys.revokedAt,
  creditsKeyId: keys.creditsKeyId,
  remaining: keys.remaining,
  ratelimitLimit: keys.ratelimitLimit,
  ratelimitDurationMs: keys.ratelimitDurationMs,
  lastUsedAt: keys.lastUsedAt,
};

export type VerifyKeyRow = Pick<KeyRow, keyof typeof verifyColumns>;

const VERIFY_FIELDS = Object.keys(verifyColumns) as (keyof typeof verifyColumns)[];
const VERIFY_DECODERS = Object.values(verifyColumns);

/**
 * A row of verifyColumns as SQLite returns it in array mode (one value per column, in their order),
 * decoded by each column's own schema mapping (JSON text, 0/1 booleans), as drizzle would.
 */
function toVerifyKeyRow(values: unknown[]): VerifyKeyRow {
  const row: Record<string, unknown> = {};
  for (let i = 0; i < VERIFY_FIELDS.length; i++) {
    const value = values[i];
    row[VERIFY_FIELDS[i] as string] = value === null ? null : VERIFY_DECODERS[i]?.mapFromDriverValue(value);
  }
  return row as VerifyKeyRow;
}

/**
 * The balance a rotated-away key spends: its successor's (the pool). A successor deleted since leaves
 * a limited key with none, and an unlimited one unlimited.
 */
function spendableRemaining(
  row: Pick<KeyRow, "remaining">,
  pool: Pick<KeyRow, "remaining"> | undefined,
): number | null {
  if (pool) return pool.remaining;
  return row.remaining === null ? null : 0;
}

export type KeyChanges = Partial<
  Omit<KeyRow, "seq" | "id" | "workspaceId" | "keyspaceId" | "hash" | "start" | "last4">
>;

export interface UsageCount {
  keyId: string;
  hour: number;
  code: string;
  count: number;
}

export interface UsageRow {
  hour: number;
  code: string;
  count: number;
}

/** What a rotation writes, planned from the old key as read inside the rotation's transaction. */
export interface RotationPlan {
  successor: Omit<KeyRow, "seq" | "remaining" | "refilledAt">;
  oldExpiresAt: number;
  audit: NewAuditEvent[];
}

/** True when the pool's last refill is older than the current UTC day or month (see keys/credits.ts). */
const refillDue = sql`(${keys.refillInterval} IS NOT NULL AND coalesce(${keys.refilledAt}, 0) < (CASE ${keys.refillInterval} WHEN 'daily' THEN ${sql.placeholder("dayStart")} ELSE ${sql.placeholder("monthStart")} END))`;
const currentCredits = sql`(CASE WHEN ${refillDue} THEN ${keys.refillAmount} ELSE ${keys.remaining} END)`;

function statusCondition(status: KeyStatus, now: Placeholder): SQL | undefined {
  const notExpired = or(isNull(keys.expiresAt), gt(keys.expiresAt, now));
  switch (status) {
    case "active":
      return and(isNull(keys.revokedAt), notExpired);
    case "revoked":
      return isNotNull(keys.revokedAt);
    case "expired":
      return and(isNull(keys.revokedAt), lte(keys.expiresAt, now));
    case "all":
      return undefined;
  }
}

export function createKeyRepo(db: Db, commits: GroupCommit) {
  const byId = db
    .select()
    .from(keys)
    .where(eq(keys.id, sql.placeholder("id")))
    .prepare();
  // Verify's miss runs drizzle's SQL on better-sqlite3 directly, kept in array mode: drizzle's get()
  // puts the statement into array mode (a native call) on every call and maps through its general row
  // mapper: 5.2 µs a lookup in a loop, against 4.4 µs with toVerifyKeyRow (3.6 µs undecoded).
  const verifyById = db.$client
    .prepare<[string], unknown[]>(
      db
        .select(verifyColumns)
        .from(keys)
        .where(eq(keys.id, sql.placeholder("id")))
        .toSQL().sql,
    )
    .raw(true);

  // One statement: apply a due refill, check the balance and deduct, so concurrent spends never overdraw.
  // The key whose credits are spent is looked up in the same statement: a spend waiting for its group's
  // commit while the key was rotated then spends from the successor, which took the balance over, and
  // never from the balance already handed over.
  const spend = db
    .update(keys)
    .set({
      remaining: sql`${currentCredits} - ${sql.placeholder("cost")}`,
      refilledAt: sql`CASE WHEN ${refillDue} THEN ${sql.placeholder("now")} ELSE ${keys.refilledAt} END`,
    })
    .where(
      and(
        eq(
          keys.id,
          sql`(SELECT coalesce(pool.credits_key_id, pool.id) FROM keys AS pool WHERE pool.id = ${sql.placeholder("id")})`,
        ),
        isNotNull(keys.remaining),
        sql`${currentCredits} >= ${sql.placeholder("cost")}`,
      ),
    )
    .returning({ remaining: keys.remaining })
    .prepare();

  // A usage flush runs these once per key verified since the last one: prepared once, not per row.
  // Raw SQL for the insert: it only counts keys that still exist (one deleted since is skipped).
  const addUsage = db.$client.prepare<UsageCount>(`INSERT INTO key_usage (key_id, hour, code, count)
    SELECT @keyId, @hour, @code, @count WHERE EXISTS (SELECT 1 FROM keys WHERE id = @keyId)
    ON CONFLICT (key_id, hour, code) DO UPDATE SET count = count + excluded.count`);
  const touchLastUsed = db
    .update(keys)
    .set({ lastUsedAt: sql`max(coalesce(${keys.lastUsedAt}, 0), ${sql.placeholder("at")})` })
    .where(eq(keys.id, sql.placeholder("id")))
    .prepare();

  // A list is one of 32 statements (its status, and which of keyspace, owner and cursor it filters
  // by), each prepared the first time it is asked for: building and preparing it on every call took
  // a seventh of the CPU of a 100-key page.
  const listStatements = new Map<string, ReturnType<typeof prepareList>>();

  function listStatement(filter: KeyFilter) {
    const given = (value: unknown) => (value === undefined ? "-" : "+");
    const name = `${filter.status} ${given(filter.keyspaceId)}${given(filter.ownerId)}${given(filter.beforeSeq)}`;
    let statement = listStatements.get(name);
    if (statement === undefined) {
      statement = prepareList(filter);
      listStatements.set(name, statement);
    }
    return statement;
  }

  function prepareList(filter: KeyFilter) {
    const conditions: (SQL | undefined)[] = [
      eq(keys.workspaceId, sql.placeholder("workspaceId")),
      statusCondition(filter.status, sql.placeholder("now")),
    ];
    if (filter.keyspaceId !== undefined) conditions.push(eq(keys.keyspaceId, sql.placeholder("keyspaceId")));
    if (filter.ownerId !== undefined) conditions.push(eq(keys.ownerId, sql.placeholder("ownerId")));
    if (filter.beforeSeq !== undefined) conditions.push(lt(keys.seq, sql.placeholder("beforeSeq")));
    return db
      .select()
      .from(keys)
      .where(and(...conditions))
      .orderBy(desc(keys.seq))
      .limit(sql.placeholder("limit"))
      .prepare();
  }

  /** withSharedCredits for one row. */
  function withSharedCreditsOf(row: KeyRow): KeyRow {
    return withSharedCredits([row])[0] ?? row;
  }

  /** Shows a rotated-away key with the credits it actually spends: those of its successor. */
  function withSharedCredits(rows: KeyRow[]): KeyRow[] {
    const poolIds = [...new Set(rows.flatMap((row) => (row.creditsKeyId ? [row.creditsKeyId] : [])))];
    if (poolIds.length === 0) return rows;
    const pools = new Map(
      db
        .select()
        .from(keys)
        .where(inArray(keys.id, poolIds))
        .all()
        .map((pool) => [pool.id, pool]),
    );
    return rows.map((row) => {
      if (!row.creditsKeyId) return row;
      const pool = pools.get(row.creditsKeyId);
      const remaining = spendableRemaining(row, pool);
      // Its successor was deleted in the grace period: nothing is left to spend, and no refill comes
      // (verify spends from the successor, which is gone), so none is shown either.
      if (!pool) return { ...row, remaining, refillAmount: null, refillInterval: null, refilledAt: null };
      return {
        ...row,
        remaining,
        refillAmount: pool.refillAmount,
        refillInterval: pool.refillInterval,
        refilledAt: pool.refilledAt,
      };
    });
  }

  return {
    async insert(row: Omit<KeyRow, "seq">, audit: NewAuditEvent[]): Promise<void> {
      // Concurrent creates share one commit, as spends do.
      await commits.run(() => {
        db.insert(keys).values(row).run();
        insertAuditEvents(db, audit);
      });
    },

    /** The stored row, credits as the key spends them. */
    async findById(id: string): Promise<KeyRow | undefined> {
      const row = byId.get({ id });
      return row && withSharedCreditsOf(row);
    },

    /** What verify needs of a key, on a cache miss (credits are read when spent). */
    async findForVerify(id: string): Promise<VerifyKeyRow | undefined> {
      const values = verifyById.get(id);
      const row = values && toVerifyKeyRow(values);
      if (!row?.creditsKeyId) return row;
      // A rotated-away key spends its successor's credits: whether it has any is the successor's to say.
      const pool = verifyById.get(row.creditsKeyId);
      return { ...row, remaining: spendableRemaining(row, pool && toVerifyKeyRow(pool)) };
    },

    /** The stored row exactly as it is. */
    async findRowById(id: string): Promise<KeyRow | undefined> {
      return byId.get({ id });
    },

    async list(filter: KeyFilter): Promise<KeyRow[]> {
      return withSharedCredits(listStatement(filter).all({ ...filter }));
    },

    /**
     * Applies `changes` to the key if `scope` still sees it (canSee); undefined otherwise. The writes
     * below read the row inside their transaction and decide on it, since a request may have committed
     * since the service read the key (an owner move, a rotation, another PATCH): `check` sees it (and
     * throws to refuse the change, writing nothing), and `audit` is recorded from it. With
     * `carryOverCreditsAt`, `remaining` becomes the balance as of that time (a due refill included), so
     * that no concurrent spend is undone.
     */
    async update(
      id: string,
      scope: Scope,
      changes: KeyChanges,
      audit: (before: KeyRow) => NewAuditEvent[],
      guard: { carryOverCreditsAt?: number; check?: (before: KeyRow) => void } = {},
    ): Promise<KeyRow | undefined> {
      const row = await commits.runNow(() => {
        const before = byId.get({ id });
        if (!before || !canSee(scope, before)) return undefined;
        guard.check?.(before);
        const set =
          guard.carryOverCreditsAt === undefined
            ? changes
            : { ...changes, remaining: effectiveRemaining(before, guard.carryOverCreditsAt) };
        const updated = db.update(keys).set(set).where(eq(keys.id, id)).returning().get();
        if (updated) insertAuditEvents(db, audit(before));
        return updated;
      });
      return row && withSharedCreditsOf(row);
    },

    /**
     * Revokes once: returns null when the key was already revoked, is gone, or `scope` no longer sees
     * it. The audit is recorded from the row as revoked, and the row answered with the credits it
     * spends, as every read shows it.
     */
    async revoke(
      id: string,
      scope: Scope,
      at: number,
      reason: string | null,
      audit: (revoked: KeyRow) => NewAuditEvent[],
    ): Promise<KeyRow | null> {
      const revoked = await commits.runNow(() => {
        const before = byId.get({ id });
        if (!before || !canSee(scope, before) || before.revokedAt !== null) return null;
        const updated = db
          .update(keys)
          .set({ revokedAt: at, revokedReason: reason, updatedAt: at })
          .where(eq(keys.id, id))
          .returning()
          .get();
        if (!updated) return null;
        insertAuditEvents(db, audit(updated));
        return updated;
      });
      return revoked && withSharedCreditsOf(revoked);
    },

    /** Deletes the key and its usage; false when it is gone or `scope` no longer sees it. */
    async delete(id: string, scope: Scope, audit: (deleted: KeyRow) => NewAuditEvent[]): Promise<boolean> {
      return commits.runNow(() => {
        const before = byId.get({ id });
        if (!before || !canSee(scope, before)) return false;
        db.delete(keys).where(eq(keys.id, id)).run();
        db.delete(keyUsage).where(eq(keyUsage.keyId, id)).run();
        insertAuditEvents(db, audit(before));
        return true;
      });
    },

    /**
     * Rotates a key in one transaction: reads it, asks `plan` for the successor (plan may throw, and
     * nothing is written then; a key gone is null), ends the old key, inserts the successor, and moves
     * every key spending the old key's credits to the new one. The successor takes the old key's balance as it stands
     * inside the transaction (spends made while the rotation was prepared are not handed over again).
     * Returns the successor and the keys that spent the old key's credits.
     */
    async rotate(
      oldId: string,
      now: number,
      plan: (old: KeyRow) => RotationPlan,
    ): Promise<{ successor: Omit<KeyRow, "seq">; spenders: string[] } | null> {
      return commits.runNow(() => {
        const old = byId.get({ id: oldId });
        if (!old) return null;
        const { successor, oldExpiresAt, audit } = plan(old);
        db.update(keys)
          .set({
            replacedById: successor.id,
            expiresAt: oldExpiresAt,
            updatedAt: now,
            creditsKeyId: successor.id,
          })
          .where(eq(keys.id, oldId))
          .run();
        const remaining = effectiveRemaining(old, now);
        const row: Omit<KeyRow, "seq"> = {
          ...successor,
          remaining,
          refilledAt: remaining === null ? null : now,
        };
        db.insert(keys).values(row).run();
        const spenders = db
          .update(keys)
          .set({ creditsKeyId: successor.id })
          .where(eq(keys.creditsKeyId, oldId))
          .returning({ id: keys.id })
          .all()
          .map((spender) => spender.id);
        insertAuditEvents(db, audit);
        return { successor: row, spenders };
      });
    },

    /** Ids of the keys that spend `id`'s credits (rotated-away predecessors still in their grace period). */
    async idsSpendingCreditsOf(id: string): Promise<string[]> {
      return db
        .select({ id: keys.id })
        .from(keys)
        .where(eq(keys.creditsKeyId, id))
        .all()
        .map((row) => row.id);
    },

    /**
     * Spends `cost` credits from the key whose credits key `id` spends (itself, or its successor once
     * rotated, as the database says when the spend runs), applying a due refill first. Returns the
     * balance left, or null when the balance is short (nothing is spent then).
     */
    async spendCredits(id: string, cost: number, now: number): Promise<number | null> {
      const period = { dayStart: startOfUtcDay(now), monthStart: startOfUtcMonth(now) };
      // Concurrent spends share one commit (one fsync) instead of one each.
      const row = await commits.run(() => spend.get({ id, cost, now, ...period }));
      return row?.remaining ?? null;
    },

    /** Adds buffered verification counts and lastUsedAt times in one transaction. */
    async recordUsage(counts: UsageCount[], lastUsed: Map<string, number>): Promise<void> {
      // Through the shared queue like every write, so a flush that fails on a full disk marks the
      // database not ready too (GroupCommit.writesFailing).
      commits.runNow(() => {
        for (const entry of counts) addUsage.run(entry);
        for (const [id, at] of lastUsed) touchLastUsed.run({ id, at });
      });
    },

    async usage(keyId: string, from: number, to: number): Promise<UsageRow[]> {
      return db
        .select({ hour: keyUsage.hour, code: keyUsage.code, count: keyUsage.count })
        .from(keyUsage)
        .where(and(eq(keyUsage.keyId, keyId), gte(keyUsage.hour, from), lt(keyUsage.hour, to)))
        .orderBy(keyUsage.hour)
        .all();
    },
  };
}

export type KeyRepo = ReturnType<typeof createKeyRepo>;
