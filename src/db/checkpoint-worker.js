// The thread behind src/db/checkpointer.ts: its own connection to the server's database, copying the
// WAL into the database file on a timer. Plain JavaScript, so it loads in any worker, tsx or not.
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";

const db = new Database(workerData.file);
db.pragma("busy_timeout = 5000");

function checkpoint() {
  // PASSIVE copies what it can without waiting for readers or writers; the rest waits for the next one.
  const [result] = db.pragma("wal_checkpoint(PASSIVE)");
  parentPort.postMessage({ type: "checkpointed", walFrames: result.log, copied: result.checkpointed });
}

const timer = setInterval(checkpoint, workerData.intervalMs);

parentPort.on("message", (message) => {
  if (message !== "stop") return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});

parentPort.postMessage({ type: "ready" });
