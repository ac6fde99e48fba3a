import { vi } from "vitest";
import type { RecordCache } from "../../src/verify/cache.js";
import { createKey, createKeyspace, type TestApp, verify } from "../helpers.js";

/** The ManualClock's default start, 2026-11-27T04:00:00.000Z. */
export const T0 = Date.parse("2026-11-27T04:00:00.000Z");

export const iso = (ms: number) => new Date(ms).toISOString();

/** A keyspace and one key in it, with the given key fields; returns the created key's 201 body. */
export async function keyWith(t: TestApp, fields: Record<string, unknown> = {}, keyspace?: { id: string }) {
  const space = keyspace ?? (await createKeyspace(t));
  return createKey(t, { keyspaceId: space.id, ...fields });
}

/** Verifies the same request `n` times at once and counts the answers by code. */
export async function verifyConcurrently(
  t: TestApp,
  n: number,
  body: Record<string, unknown>,
  token?: string,
) {
  const results = await Promise.all(Array.from({ length: n }, () => verify(t, body, token)));
  const byCode: Record<string, number> = {};
  for (const result of results) byCode[result.code] = (byCode[result.code] ?? 0) + 1;
  return { results, byCode };
}

/** Rows changed in the database since it was opened (SQLite's total_changes()). */
export function totalChanges(t: TestApp): number {
  const row = t.db.$client.prepare("SELECT total_changes() AS n").get() as { n: number };
  return row.n;
}

/** The key's row as stored, read straight from the database. */
export function storedKeyRow(t: TestApp, id: string) {
  return t.db.$client.prepare("SELECT * FROM keys WHERE id = ?").get(id) as
    | Record<string, unknown>
    | undefined;
}

/** A promise with its settling functions, to hold an async step until a test releases it. */
export function deferred<T = void>() {
  let resolve: (value: T) => void = () => {};
  let reject: (error: Error) => void = () => {};
  const promise = new Promise<T>((settle, fail) => {
    resolve = settle;
    reject = fail;
  });
  return { promise, resolve, reject };
}

/** A record cache used the way verify and root-key auth use it: asked first, loaded on a miss. */
export function resolve<T extends { id: string }>(
  cache: RecordCache<T>,
  digest: string,
  load: () => Promise<T | null>,
): Promise<T | null> {
  const cached = cache.cached(digest);
  return cached !== undefined ? Promise.resolve(cached) : cache.load(digest, load);
}

/**
 * Runs `meanwhile` right after the next key read (a service's check of the key it is about to change)
 * and before that read returns: another request commits between the check and the write. With
 * `repo: "rootKeys"`, after the next root-key read instead.
 */
export function betweenCheckAndWrite(
  t: TestApp,
  meanwhile: (id: string) => Promise<void>,
  { repo = "keys" }: { repo?: "keys" | "rootKeys" } = {},
): void {
  const reads = t.deps.repos[repo] as { findById(id: string): Promise<unknown> };
  const read = reads.findById;
  vi.spyOn(reads, "findById").mockImplementationOnce(async (id) => {
    const row = await read(id);
    await meanwhile(id);
    return row;
  });
}
