import pino from "pino";
import { createApp } from "../src/app.js";
import type { Config } from "../src/config.js";
import { openDatabase } from "../src/db/client.js";
import { migrateDatabase } from "../src/db/migrate.js";
import { type AppDeps, createDeps } from "../src/deps.js";
import type { Clock } from "../src/lib/clock.js";
import { createWorkspace } from "../src/services/workspaces.js";
import { logSink } from "./support/log-sink.js";

/** Writes the request log lines recorded so far, which are batched (src/observability/request-log.ts). */
export const requestLinesWritten = (t: { deps: AppDeps }) => t.deps.requestLog.flush();

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private current = Date.parse("2026-11-27T04:00:00.000Z")) {}
  now(): number {
    return this.current;
  }
  set(iso: string): void {
    this.current = Date.parse(iso);
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

export const ADMIN_TOKEN = "test-admin-token-0123456789";

export interface TestAppOptions {
  clock?: Clock;
  config?: Partial<Config>;
  /** A file path for the database; a fresh in-memory database by default. */
  dbFile?: string;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
  body: any;
  text: string;
}

/**
 * An app on a fresh migrated database with one workspace, its "*" root key, and every log line
 * captured in `logs`, in one call.
 */
export async function createTestApp(options: TestAppOptions = {}) {
  const db = openDatabase(options.dbFile ?? ":memory:");
  migrateDatabase(db);
  const { stream, lines: logs } = logSink();
  const logger = pino({ level: "info", base: undefined }, stream);
  const deps = await createDeps({
    db,
    clock: options.clock,
    logger,
    // A smaller cache than production's 100k: lru-cache allocates its index up front, for every test app.
    config: { KEYMINT_ADMIN_TOKEN: ADMIN_TOKEN, KEYMINT_CACHE_MAX: 10_000, ...options.config },
  });
  const app = createApp(deps);
  const origin = { actorType: "system" as const, actorId: null, requestId: "test", ip: null };
  const { workspace, rootKey } = await createWorkspace(deps, origin, "test");

  async function call(
    method: string,
    path: string,
    init: { body?: unknown; token?: string | null; headers?: Record<string, string>; raw?: string } = {},
  ): Promise<ApiResponse> {
    const headers: Record<string, string> = { ...init.headers };
    const token = init.token === undefined ? rootKey.key : init.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined = init.raw;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers["content-type"] ??= "application/json";
    }
    const response = await app.request(path, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return { status: response.status, headers: response.headers, body: parsed, text };
  }

  return { app, deps, db, logs, workspace, rootKey: rootKey.key, rootKeyId: rootKey.row.id, call };
}

export type TestApp = Awaited<ReturnType<typeof createTestApp>>;

/** Creates a keyspace and returns its id. */
export async function createKeyspace(t: TestApp, body: Record<string, unknown> = {}, token?: string) {
  const prefix = `t${Math.random().toString(36).slice(2, 10)}`;
  const response = await t.call("POST", "/v1/keyspaces", { body: { name: "test", prefix, ...body }, token });
  if (response.status !== 201) throw new Error(`keyspace create failed: ${response.status} ${response.text}`);
  return response.body as { id: string; prefix: string };
}

/** Creates a key and returns the whole 201 body (with `key`). */
export async function createKey(t: TestApp, body: Record<string, unknown>, token?: string) {
  const response = await t.call("POST", "/v1/keys", { body, token });
  if (response.status !== 201) throw new Error(`key create failed: ${response.status} ${response.text}`);
  return response.body as { key: string; id: string } & Record<string, unknown>;
}

export async function verify(t: TestApp, body: Record<string, unknown>, token?: string) {
  const response = await t.call("POST", "/v1/keys/verify", { body, token });
  if (response.status !== 200) throw new Error(`verify failed: ${response.status} ${response.text}`);
  return response.body;
}
