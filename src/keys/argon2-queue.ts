import { availableParallelism } from "node:os";
import { ApiError } from "../lib/errors.js";

/** Argon2 work refused, or its result dropped, because the server is stopping. */
export class ShuttingDown extends ApiError {
  constructor() {
    super("UNAVAILABLE", "The server is shutting down; try again.", undefined, { "retry-after": "1" });
  }
}

/** Argon2 work refused because the work already waiting for its turn would keep it waiting too long. */
export class Backlogged extends ApiError {
  constructor(retryAfterSeconds: number) {
    super("UNAVAILABLE", "Too many argon2 hashes are waiting for their turn; try again.", undefined, {
      "retry-after": String(retryAfterSeconds),
    });
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

/**
 * What one computation is taken to cost until some have been timed: more than an argon2id hash at
 * KeyMint's parameters takes on any machine it is likely to run on (15–40 ms), so that a burst at
 * start-up is refused early rather than let in to wait longer than the limit says.
 */
const FIRST_ESTIMATE_MS = 100;

/** How much each timed computation moves the estimate (an exponentially weighted mean). */
const ESTIMATE_WEIGHT = 0.2;

/**
 * How often, at most, a refusal searches the waiting list for work whose client has gone: the search
 * reads every entry, and a flood of refusals against a long list (a limit of minutes) would otherwise
 * hold the event loop for seconds.
 */
const ABANDONED_SEARCH_INTERVAL_MS = 1_000;

/** The most threads libuv's pool takes (MAX_THREADPOOL_SIZE in libuv's threadpool.c). */
const MAX_THREAD_POOL_SIZE = 1024;

/**
 * libuv's thread pool, read from UV_THREADPOOL_SIZE as libuv reads it: 4 threads when unset, else the
 * value's leading integer (C's atoi: "2abc" is 2), where none or 0 is 1 thread (an empty or misspelt value
 * too: reading those as 4 would let argon2 take the one thread) and a negative one wraps to the maximum.
 */
export function threadPoolSize(env: NodeJS.ProcessEnv): number {
  if (env.UV_THREADPOOL_SIZE === undefined) return 4;
  const size = Number.parseInt(env.UV_THREADPOOL_SIZE, 10);
  if (Number.isNaN(size) || size === 0) return 1;
  return size < 0 ? MAX_THREAD_POOL_SIZE : Math.min(size, MAX_THREAD_POOL_SIZE);
}

/**
 * As many argon2 computations at once as there are cores less one, so that a core stays free for the
 * event loop, which answers every verify: on a 2-core machine (load generators on it too), a workspace's
 * flood of forged argon2id keys cut other workspaces' cached verifies by half with a hash on each core,
 * and by a third with one (SECURITY.md). The price is argon2's own throughput, about 40% of it on 2
 * cores (README, "Sizing the verify cache"). And one fewer than libuv's pool has threads, so that one stays free for the rest of the process (the
 * log's asynchronous writes go through it). At least one, so a pool of one thread, or a machine of one
 * core, is all argon2's. KEYMINT_ARGON2_CONCURRENCY replaces it (config.ts); raise UV_THREADPOOL_SIZE
 * for more than 3 on a machine of over 4 cores.
 */
export function defaultArgon2Concurrency(env: NodeJS.ProcessEnv, cores = availableParallelism()): number {
  return Math.max(1, Math.min(cores - 1, threadPoolSize(env) - 1));
}

/** One computation waiting for its turn. */
interface Waiting {
  tenant: string;
  start: () => void;
  refuse: (error: Error) => void;
  clientGone: (() => boolean) | undefined;
}

export interface Argon2WorkOptions {
  /**
   * Whose work this is (a workspace): one tenant whose work fills the waiting list cannot keep the
   * others' out. Work that names none shares one tenant.
   */
  tenant?: string;
  /** Whether the client the work is for has hung up (see `run`). */
  clientGone?: () => boolean;
}

/**
 * Runs argon2 computations a few at a time; the rest wait here, in JavaScript, as long as their
 * expected wait (all the work waiting, over the concurrency, times a computation's mean duration) is
 * within `maxExpectedWaitMs`; beyond it, work is refused at once (503, Retry-After).
 *
 * When the list is full, work of a tenant (a workspace) with at least two fewer computations waiting
 * than the tenant with the most takes the place of that one's newest, which is refused instead (503).
 * So one tenant's flood of forged argon2id keys (or of creates) cannot keep the others' work out: it
 * is let in, behind what already waits. Work starts in the order it was let in, so nothing let in later
 * ever starts first and the wait expected when work is let in still holds. (Turns taken between
 * tenants would let the work of tenants that come later start first, again and again: work let in under
 * a 5 s limit waited over a minute.) What pushing out adds is that work let in may be refused later,
 * while it is its tenant's newest and another tenant's needs its place.
 *
 * Handed straight to libuv, every one would be queued on its thread pool, which runs all it is given
 * and keeps the process alive (even through `process.exit()`) until its queue is empty. A backlog of
 * a few hundred argon2id creates or cold verifies at SIGTERM then held the exit past the 10 s a
 * supervisor gives. Waiting here, a backlog can be dropped when the server gives up on its requests.
 */
export class Argon2Queue {
  private running = 0;
  private begun = 0;
  /** In the order it was let in. */
  private waiting: Waiting[] = [];
  /**
   * How much of the waiting work is each tenant's (tenants with none are left out). Kept as work comes
   * and goes, not counted from `waiting` when the list is full: a flood's own refusals, one per request,
   * then cost a step per tenant rather than one per waiting computation (hundreds of thousands under a
   * limit of an hour).
   */
  private waitingByTenant = new Map<string, number>();
  private stopped = false;
  /** The mean duration of a computation, from those timed so far (ms). */
  private meanMs = FIRST_ESTIMATE_MS;
  private abandonedSearchedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly concurrency: number,
    /**
     * The longest new work may expect to wait for its turn before it is refused (Backlogged): past it,
     * clients are better told to come back than held while their timeouts run out, and the waiting
     * list (each entry holding a request open) stays bounded whatever a burst, or a flood of forged
     * argon2id keys, asks for. The default (KEYMINT_ARGON2_MAX_WAIT_MS) is 5 s: within the 8 s a
     * shutdown gives requests to finish, so what was let in is normally done by then.
     */
    private readonly maxExpectedWaitMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Runs `work` in its turn. With `clientGone`, work whose client has hung up when its turn comes is
   * not begun, and the result of work whose client hangs up while it runs is dropped (ClientGone): a
   * burst of abandoned creates (a client timing out and retrying) is then neither hashed ahead of
   * live requests nor stored as keys nobody received. It is asked, not listened to: an abort listener
   * would need the request's AbortController, which @hono/node-server otherwise never builds.
   */
  run<T>(work: () => Promise<T>, { tenant = "", clientGone }: Argon2WorkOptions = {}): Promise<T> {
    if (this.stopped) return Promise.reject(new ShuttingDown());
    if (clientGone?.()) return Promise.reject(new ClientGone());
    if (this.running >= this.concurrency && this.waitOfNextMs() > this.maxExpectedWaitMs) {
      // Work whose client has gone would be passed over at its turn: it holds no one up.
      const now = this.now();
      if (now - this.abandonedSearchedAt >= ABANDONED_SEARCH_INTERVAL_MS) {
        this.abandonedSearchedAt = now;
        this.refuseAbandoned();
      }
      const waitMs = this.waitOfNextMs();
      if (waitMs > this.maxExpectedWaitMs && !this.makeRoomFor(tenant, waitMs)) {
        return Promise.reject(new Backlogged(Math.ceil(waitMs / 1000)));
      }
    }
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running++;
        this.begun++;
        const startedAt = this.now();
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
            const tookMs = this.now() - startedAt;
            this.meanMs += ESTIMATE_WEIGHT * (tookMs - this.meanMs);
            this.running--;
            this.startNext();
          });
      };
      if (this.running < this.concurrency) start();
      else this.enqueue({ tenant, start, refuse: reject, clientGone });
    });
  }

  /**
   * Refuses the work still waiting, and drops the result of work under way when it finishes: the
   * requests that asked for it have been given up on, and the database may already be closed.
   */
  stop(): void {
    this.stopped = true;
    const waiting = this.waiting;
    this.waiting = [];
    this.waitingByTenant.clear();
    for (const job of waiting) job.refuse(new ShuttingDown());
  }

  /** Computations waiting for their turn. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Computations begun since start-up: work whose client had gone at its turn is not among them. */
  get begunCount(): number {
    return this.begun;
  }

  /** How long work put on the waiting list now can expect to wait for its turn. */
  private waitOfNextMs(): number {
    return Math.ceil((this.waiting.length + 1) / this.concurrency) * this.meanMs;
  }

  private enqueue(job: Waiting): void {
    this.waiting.push(job);
    this.counted(job.tenant, 1);
  }

  private counted(tenant: string, change: number): void {
    const count = (this.waitingByTenant.get(tenant) ?? 0) + change;
    if (count > 0) this.waitingByTenant.set(tenant, count);
    else this.waitingByTenant.delete(tenant);
  }

  /**
   * The list is full: when the tenant with the most work waiting has at least two more than `tenant`
   * (so more than `tenant` would have with this one, and the two never trade places back and forth),
   * its newest is refused, with the Retry-After a newcomer would get, and `tenant`'s takes its place.
   */
  private makeRoomFor(tenant: string, waitMs: number): boolean {
    let largest: string | undefined;
    let largestCount = 0;
    for (const [other, count] of this.waitingByTenant) {
      if (count > largestCount) [largest, largestCount] = [other, count];
    }
    if (largest === undefined || largestCount <= (this.waitingByTenant.get(tenant) ?? 0) + 1) return false;
    const newest = this.waiting.findLastIndex((job) => job.tenant === largest);
    const [pushedOut] = this.waiting.splice(newest, 1) as [Waiting];
    this.counted(largest, -1);
    pushedOut.refuse(new Backlogged(Math.ceil(waitMs / 1000)));
    return true;
  }

  /** Refuses the waiting work whose client has gone (ClientGone), so that it no longer counts. */
  private refuseAbandoned(): void {
    const stillWanted: Waiting[] = [];
    for (const job of this.waiting) {
      if (job.clientGone?.()) {
        job.refuse(new ClientGone());
        this.counted(job.tenant, -1);
      } else {
        stillWanted.push(job);
      }
    }
    this.waiting = stillWanted;
  }

  /** Begins the next waiting work whose client is still there; the others are refused on the way. */
  private startNext(): void {
    while (!this.stopped && this.running < this.concurrency) {
      const job = this.waiting.shift();
      if (job === undefined) return;
      this.counted(job.tenant, -1);
      if (job.clientGone?.()) job.refuse(new ClientGone());
      else job.start();
    }
  }
}
