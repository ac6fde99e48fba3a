import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { generateKey } from "../src/keys/format.js";
import { sha256Hex } from "../src/keys/hash.js";

/*
 * The fast path for large key sets: real generated keys (format, checksum, SHA-256 hash exactly as
 * KeyMint makes them) written straight into the migrated database file with one prepared INSERT in
 * big transactions, while no server has the file open. The keys table's indexes are dropped for the
 * load and rebuilt afterwards (a sorted build instead of millions of random B-tree inserts), and the
 * file is back in WAL mode when this returns.
 */

export interface SeedOptions {
  dbFile: string;
  workspaceId: string;
  keyspaceId: string;
  prefix: string;
  count: number;
  /** How many plaintexts to keep (spread evenly over the batch) to verify with. */
  sampleSize: number;
  now?: number;
}

export interface SeedResult {
  inserted: number;
  /** Plaintext keys from this batch. Kept in memory only; never logged or written by the harness. */
  sample: string[];
  seconds: number;
}

const ROWS_PER_TRANSACTION = 100_000;

export function seedKeys(options: SeedOptions): SeedResult {
  const started = performance.now();
  const db = new Database(options.dbFile);
  try {
    db.pragma("journal_mode = OFF");
    db.pragma("synchronous = OFF");
    db.pragma("cache_size = -1048576");
    db.pragma("temp_store = MEMORY");
    const indexes = db
      .prepare(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'keys' AND sql IS NOT NULL",
      )
      .all() as { name: string; sql: string }[];
    for (const index of indexes) db.exec(`DROP INDEX "${index.name}"`);

    const insert = db.prepare(
      `INSERT INTO keys (id, keyspace_id, workspace_id, owner_id, name, start, last4, hash, meta, scopes,
         enabled, created_at, updated_at) VALUES (?, ?, ?, NULL, NULL, ?, ?, ?, '{}', '[]', 1, ?, ?)`,
    );
    const stride = Math.max(1, Math.floor(options.count / Math.max(1, options.sampleSize)));
    const sample: string[] = [];
    const now = options.now ?? Date.now();
    const insertMany = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const generated = generateKey(options.prefix);
        insert.run(
          `key_${generated.keyId}`,
          options.keyspaceId,
          options.workspaceId,
          generated.start,
          generated.last4,
          sha256Hex(generated.key),
          now,
          now,
        );
        if (i % stride === 0 && sample.length < options.sampleSize) sample.push(generated.key);
      }
    });
    for (let from = 0; from < options.count; from += ROWS_PER_TRANSACTION) {
      insertMany(from, Math.min(options.count, from + ROWS_PER_TRANSACTION));
    }

    for (const index of indexes) db.exec(index.sql);
    db.pragma("journal_mode = WAL");
    return { inserted: options.count, sample, seconds: (performance.now() - started) / 1000 };
  } finally {
    db.close();
  }
}

// As a script: `tsx bench/seed.ts --db f --workspace ws_… --keyspace ksp_… --prefix p --count n [--sample-out file]`
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      db: { type: "string" },
      workspace: { type: "string" },
      keyspace: { type: "string" },
      prefix: { type: "string" },
      count: { type: "string" },
      sample: { type: "string", default: "1000" },
      "sample-out": { type: "string" },
    },
  });
  if (!values.db || !values.workspace || !values.keyspace || !values.prefix || !values.count) {
    process.stderr.write(
      "usage: tsx bench/seed.ts --db <file> --workspace <ws_id> --keyspace <ksp_id> --prefix <prefix> --count <n> [--sample n --sample-out file]\n",
    );
    process.exit(2);
  }
  const result = seedKeys({
    dbFile: values.db,
    workspaceId: values.workspace,
    keyspaceId: values.keyspace,
    prefix: values.prefix,
    count: Number(values.count),
    sampleSize: Number(values.sample),
  });
  if (values["sample-out"])
    writeFileSync(values["sample-out"], `${result.sample.join("\n")}\n`, { mode: 0o600 });
  process.stdout.write(`seeded ${result.inserted} keys in ${result.seconds.toFixed(1)} s\n`);
}
