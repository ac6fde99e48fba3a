import { Worker } from "node:worker_threads";
import type { Db } from "./client.js";

export interface CheckpointReport {
  /** Frames in the WAL when the checkpoint ran. */
  walFrames: number;
  /** Of those, how many are now in the database file. */
  copied: number;
}

export interface Checkpointer {
  /** The thread itself (a test ends it to play a crash). */
  readonly worker: Worker;
  /** Runs a last checkpoint and closes the worker's connection. */
  stop(): Promise<void>;
}

export interface CheckpointerOptions {
  intervalMs: number;
  onError(error: Error): void;
  onCheckpoint?(report: CheckpointReport): void;
}

/**
 * Does most of SQLite's WAL checkpointing off the event loop. SQLite checkpoints on the connection
 * whose commit finds the WAL over 1000 pages: for the server that is the event loop, and at a million
 * keys copying those pages back (random writes, then an fsync) held every request for 100 ms and more.
 *
 * A worker thread with its own connection copies the WAL into the database every `intervalMs`
 * (PASSIVE: it never waits on the server). The server's connection keeps its own automatic
 * checkpoint, which then finds little left to copy; it must keep it: only a checkpoint that ends with
 * nothing left lets the next write start the WAL again from its beginning, and under steady writes
 * only the writer's own checkpoint, run right after its commit, gets there (without it the WAL grew
 * by 60 MB a second). Should the worker fail, the server checkpoints as SQLite always does.
 * For file databases only (":memory:" has no WAL).
 */
export async function startCheckpointer(db: Db, options: CheckpointerOptions): Promise<Checkpointer> {
  const worker = new Worker(new URL("./checkpoint-worker.js", import.meta.url), {
    workerData: { file: db.$client.name, intervalMs: options.intervalMs },
  });
  await new Promise<void>((resolve, reject) => {
    worker.once("error", reject);
    worker.once("message", () => {
      worker.off("error", reject);
      resolve();
    });
  });

  let stopping = false;
  let failed = false;
  const fail = (error: Error) => {
    if (failed || stopping) return;
    failed = true;
    options.onError(error);
  };
  const exited = new Promise((resolve) => worker.once("exit", resolve));
  worker.on("error", fail);
  worker.on("exit", (code) => fail(new Error(`the checkpoint worker exited (code ${code})`)));
  worker.on("message", (message: { type: string } & CheckpointReport) => {
    if (message.type === "checkpointed") {
      options.onCheckpoint?.({ walFrames: message.walFrames, copied: message.copied });
    }
  });

  return {
    worker,
    async stop() {
      if (stopping || failed) return;
      stopping = true;
      worker.postMessage("stop");
      await exited;
    },
  };
}
