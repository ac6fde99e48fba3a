import { Worker } from "node:worker_threads";
import type { Db } from "./client.js";

/** SQLite's default: an automatic checkpoint once the WAL holds this many pages. */
const AUTOMATIC_CHECKPOINT_PAGES = 1000;

export interface CheckpointReport {
  /** Frames in the WAL when the checkpoint ran. */
  walFrames: number;
  /** Of those, how many are now in the database file. */
  copied: number;
}

export interface Checkpointer {
  /** The thread itself (a test ends it to play a crash). */
  readonly worker: Worker;
  /** Runs a last checkpoint, closes the worker's connection and hands checkpoints back to `db`. */
  stop(): Promise<void>;
}

export interface CheckpointerOptions {
  intervalMs: number;
  onError(error: Error): void;
  onCheckpoint?(report: CheckpointReport): void;
}

/**
 * Moves SQLite's WAL checkpoints off the event loop. SQLite runs one on the connection whose commit
 * finds the WAL over 1000 pages: for the server that is the event loop, and at a million keys such a
 * checkpoint (random pages written back, then an fsync) held every request for 100 ms and more.
 * Here a worker thread with its own connection checkpoints every `intervalMs`, and `db` stops
 * checkpointing by itself once the worker is up. Should the worker fail, `db` checkpoints by itself
 * again, so the WAL never grows without bound. For file databases only (":memory:" has no WAL).
 */
export async function startCheckpointer(db: Db, options: CheckpointerOptions): Promise<Checkpointer> {
  const worker = new Worker(new URL("./checkpoint-worker.js", import.meta.url), {
    workerData: { file: db.$client.name, intervalMs: options.intervalMs },
  });
  const checkpointByItself = () => db.$client.pragma(`wal_autocheckpoint = ${AUTOMATIC_CHECKPOINT_PAGES}`);
  let stopping = false;
  let failed = false;
  const fail = (error: Error) => {
    if (failed || stopping) return;
    failed = true;
    checkpointByItself();
    options.onError(error);
  };

  await new Promise<void>((resolve, reject) => {
    worker.once("error", reject);
    worker.once("message", () => {
      worker.off("error", reject);
      resolve();
    });
  });
  db.$client.pragma("wal_autocheckpoint = 0");

  worker.on("message", (message: { type: string } & CheckpointReport) => {
    if (message.type === "checkpointed") {
      options.onCheckpoint?.({ walFrames: message.walFrames, copied: message.copied });
    }
  });
  const exited = new Promise((resolve) => worker.once("exit", resolve));
  worker.on("error", fail);
  worker.on("exit", (code) => fail(new Error(`the checkpoint worker exited (code ${code})`)));

  return {
    worker,
    async stop() {
      if (stopping || failed) return;
      stopping = true;
      worker.postMessage("stop");
      await exited;
      checkpointByItself();
    },
  };
}
