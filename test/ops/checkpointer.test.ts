import { statSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CheckpointReport, startCheckpointer } from "../../src/db/checkpointer.js";
import { type Db, openDatabase } from "../../src/db/client.js";
import { migrateDatabase } from "../../src/db/migrate.js";
import { waitFor } from "../support/ops.js";
import { tempDatabase } from "../support/server-process.js";

const PAGE = 4096;

describe("WAL checkpoints on a worker thread", () => {
  let database: ReturnType<typeof tempDatabase>;
  let db: Db;
  const reports: CheckpointReport[] = [];
  const errors: Error[] = [];
  const options = {
    intervalMs: 20,
    onError: (error: Error) => errors.push(error),
    onCheckpoint: (report: CheckpointReport) => reports.push(report),
  };

  beforeEach(() => {
    database = tempDatabase();
    db = openDatabase(database.file);
    migrateDatabase(db);
    db.$client.exec("CREATE TABLE filler (blob BLOB)");
    reports.length = 0;
    errors.length = 0;
  });
  afterEach(() => {
    db.$client.close();
    database.remove();
  });

  /** Commits `pages` single-page rows, letting the worker run every `every` commits. */
  async function write(pages: number, every = 50) {
    const insert = db.$client.prepare("INSERT INTO filler (blob) VALUES (randomblob(3900))");
    for (let page = 0; page < pages; page++) {
      insert.run();
      if (page % every === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  it("copies the WAL into the database file from the worker, before the server's connection would", async () => {
    const checkpointer = await startCheckpointer(db, options);
    try {
      await write(500); // under the 1000 pages at which the server's connection checkpoints by itself
      await waitFor(
        () => reports.some((report) => report.walFrames >= 500 && report.copied === report.walFrames),
        "a checkpoint of the whole WAL by the worker",
      );
      expect(errors).toEqual([]);
    } finally {
      await checkpointer.stop();
    }
  });

  it("keeps the WAL bounded under steady writes", async () => {
    const checkpointer = await startCheckpointer(db, options);
    try {
      await write(6_000);
      // Restarted from its beginning again and again: about the automatic checkpoint's 1000 pages at
      // most, where a WAL no checkpoint ever emptied would hold all 6000.
      expect(statSync(`${database.file}-wal`).size).toBeLessThan(2_000 * PAGE);
      expect(reports.some((report) => report.copied > 0)).toBe(true);
    } finally {
      await checkpointer.stop();
    }
  });

  it("reports the worker's death; the server's connection goes on checkpointing by itself", async () => {
    const checkpointer = await startCheckpointer(db, options);
    await checkpointer.worker.terminate();
    await waitFor(() => errors.length > 0, "the failure reported");
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toContain("checkpoint worker exited");
    expect(db.$client.pragma("wal_autocheckpoint", { simple: true })).toBe(1000);
    await write(1_500);
    expect(statSync(`${database.file}-wal`).size).toBeLessThan(2_000 * PAGE);
    await checkpointer.stop(); // harmless after a failure
  });
});
