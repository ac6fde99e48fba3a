import { availableParallelism } from "node:os";
import { ApiError } from "../lib/errors.js";

/** Argon2 work refused, or its result dropped, because the server is stopping. */
export class ShuttingDown extends ApiError {
  constructor() {
    super("UNAVAILABLE", "The server is shutting down; try again.", undefined, { "retry-after": "1" });
  }
}

/**
 * The request a computation was for was given up by its client before the computation's turn came,
 * or while it ran: recorded as a hang-up (499), like any other.
 */
export class ClientGone extends Error {
  constructor() {
    super("The client closed its connection before its argon2 computation's result was used.");
  }
}

/** libuv's thread pool: 4 threads unless UV_THREADPOOL_SIZE says otherwise. */
function threadPoolSize(env: NodeJS.ProcessEnv): number {
  const size = Number(env.UV_THREADPOOL_SIZE);
  return Number.isInteger(size) && size > 0 ? size : 4;
}

/**
 * As many argon2 computations at once as there are cores, but one fewer than libuv's pool has threads,
 * so that one stays free for the rest of the process (the log's asynchronous writes go through it);
 * at least one, so a pool of one thread is all argon2's. Raise UV_THREADPOOL_SIZE for more.
 */
export function defaultArgon2Concurrency(env: NodeJS.ProcessEnv = process.env): number {
  return Math.max(1, Math.min(availableParallelism(), threadPoolSize(env) - 1));
}

/**
 * Runs argon2 computations a few at a time, in the order asked; the rest wait here, in JavaScript.
 *
 * Handed straight to libuv, every one would be queued on its thread pool, which runs all it is given
 * and keeps the process alive (even through `process.exit()`) until its queue is empty. A backlog of
 * a few hundred argon2id creates or cold verifies at SIGTERM then held the exit past the 10 s a
 * supervisor gives. Waiting here, a backlog can be dropped when the server gives up on its requests.
 */
export class Argon2Queue {
  private running = 0;
  private readonly waiting: {
    start: () => void;
    refuse: (error: Error) => void;
    clientGone: (() => boolean) | undefined;
  }[] = [];
  private stopped = false;

  constructor(private readonly concurrency: number) {}

  /**
   * Runs `work` in its turn. With `clientGone`, work whose client has hung up when its turn comes is
   * not begun, and the result of work whose client hangs up while it runs is dropped (ClientGone): a
   * burst of abandoned creates (a client timing out and retrying) is then neither hashed ahead of
   * live requests nor stored as keys nobody received. It is asked, not listened to: an abort listener
   * would need the request's AbortController, which @hono/node-server otherwise never builds.
   */
  run<T>(work: () => Promise<T>, clientGone?: () => boolean): Promise<T> {
    if (this.stopped) return Promise.reject(new ShuttingDown());
    if (clientGone?.()) return Promise.reject(new ClientGone());
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running++;
        let computing: Promise<T>;
        try {
          // Whatever `work` returns or throws, its turn is given back below.
          computing = Promise.resolve(work());
        } catch (error) {
          computing = Promise.reject(error);
        }
        computing
          .then((value) => {
            if (this.stopped) reject(new ShuttingDown());
            else if (clientGone?.()) reject(new ClientGone());
            else resolve(value);
          }, reject)
          .finally(() => {
            this.running--;
            this.startNext();
          });
      };
      if (this.running < this.concurrency) start();
      else this.waiting.push({ start, refuse: reject, clientGone });
    });
  }

  /**
   * Refuses the work still waiting, and drops the result of work under way when it finishes: the
   * requests that asked for it have been given up on, and the database may already be closed.
   */
  stop(): void {
    this.stopped = true;
    for (const job of this.waiting.splice(0)) job.refuse(new ShuttingDown());
  }

  /** Computations waiting for their turn. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Begins the next waiting work whose client is still there; the others are refused on the way. */
  private startNext(): void {
    while (!this.stopped && this.running < this.concurrency) {
      const job = this.waiting.shift();
      if (job === undefined) return;
      if (job.clientGone?.()) job.refuse(new ClientGone());
      else job.start();
    }
  }
}
