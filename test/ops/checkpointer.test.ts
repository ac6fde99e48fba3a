import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CheckpointReport, startCheckpointer } from "../../src/db/checkpointer.js";
import { type Db, openDatabase } from "../../src/db/client.js";
import { migrateDatabase } from "../../src/db/migrate.js";
import { waitFor } from "../support/ops.js";
import { tempDatabase } from "../support/server-process.js";

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
    reports.length = 0;
    errors.length = 0;
  });
  afterEach(() => {
    db.$client.close();
    database.remove();
  });

  const automaticCheckpointPages = () => db.$client.pragma("wal_autocheckpoint", { simple: true });

  /** Writes about `pages` pages of WAL, none of which the main connection checkpoints by itself. */
  function writeWal(pages: number) {
    db.$client.exec("CREATE TABLE IF NOT EXISTS filler (blob BLOB)");
    const insert = db.$client.prepare("INSERT INTO filler (blob) VALUES (randomblob(4000))");
    for (let page = 0; page < pages; page++) insert.run();
  }

  it("copies the WAL into the database from the worker, with the connection's own checkpoints off", async () => {
    const checkpointer = await startCheckpointer(db, options);
    try {
      expect(automaticCheckpointPages()).toBe(0);
      writeWal(1_500); // past the 1000 pages at which the connection itself would have checkpointed
      await waitFor(
        () => reports.some((report) => report.walFrames >= 1_500 && report.copied === report.walFrames),
        "a checkpoint of the whole WAL",
      );
      expect(errors).toEqual([]);
    } finally {
      await checkpointer.stop();
    }
    expect(automaticCheckpointPages()).toBe(1000);
  });

  it("hands checkpoints back to the connection, and says so, when the worker dies", async () => {
    const checkpointer = await startCheckpointer(db, options);
    expect(automaticCheckpointPages()).toBe(0);
    await checkpointer.worker.terminate();
    await waitFor(() => errors.length > 0, "the failure reported");
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toContain("checkpoint worker exited");
    expect(automaticCheckpointPages()).toBe(1000);
    await checkpointer.stop(); // harmless after a failure
  });
});
