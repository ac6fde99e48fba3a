import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import {
  Argon2Queue,
  Backlogged,
  ClientGone,
  defaultArgon2Concurrency,
  ShuttingDown,
} from "../../src/keys/argon2-queue.js";
import { deferred } from "../support/verify.js";

const settled = () => new Promise((resolve) => setImmediate(resolve));

/** A queue that lets any backlog wait, for the tests that are not about its bound. */
const NO_LIMIT = Number.POSITIVE_INFINITY;

describe("Argon2Queue", () => {
  it("runs at most its concurrency at once, the rest in the order asked", async () => {
    const queue = new Argon2Queue(2, NO_LIMIT);
    const jobs = [0, 1, 2, 3].map(() => deferred<number>());
    const started: number[] = [];
    const results = jobs.map((job, i) =>
      queue.run(() => {
        started.push(i);
        return job.promise;
      }),
    );
    const outcomes = Promise.allSettled(results);
    expect(started).toEqual([0, 1]);
    expect(queue.waitingCount).toBe(2);

    jobs[1]?.resolve(1);
    await settled();
    expect(started).toEqual([0, 1, 2]);
    jobs[0]?.reject(new Error("argon2 failed"));
    await settled();
    expect(started).toEqual([0, 1, 2, 3]);
    jobs[2]?.resolve(2);
    jobs[3]?.resolve(3);

    expect(
      (await outcomes).map((outcome) => (outcome.status === "fulfilled" ? outcome.value : "failed")),
    ).toEqual(["failed", 1, 2, 3]);
  });

  it("frees the turn of work that throws before it returns a promise, or returns none", async () => {
    const queue = new Argon2Queue(1, NO_LIMIT);
    await expect(
      queue.run(() => {
        throw new Error("no");
      }),
    ).rejects.toThrow("no");
    await expect(queue.run(async () => "next")).resolves.toBe("next");
    // Nor one that returns a plain value.
    await expect(queue.run(() => "plain" as unknown as Promise<string>)).resolves.toBe("plain");
    await expect(queue.run(async () => "after")).resolves.toBe("after");
  });

  it("on stop, refuses the work waiting, drops the result of the work under way, and takes no more", async () => {
    const queue = new Argon2Queue(1, NO_LIMIT);
    const running = deferred<string>();
    let laterStarted = false;
    const underWay = queue.run(() => running.promise);
    const waiting = queue.run(async () => {
      laterStarted = true;
      return "never";
    });

    queue.stop();
    await expect(waiting).rejects.toBeInstanceOf(ShuttingDown);
    running.resolve("finished after the stop");
    await expect(underWay).rejects.toBeInstanceOf(ShuttingDown);
    await expect(queue.run(async () => "new")).rejects.toBeInstanceOf(ShuttingDown);
    expect(laterStarted).toBe(false);
    // Answered as the API answers any refusal: 503 UNAVAILABLE, with a Retry-After.
    const refusal = new ShuttingDown();
    expect([refusal.status, refusal.code, refusal.headers]).toEqual([
      503,
      "UNAVAILABLE",
      { "retry-after": "1" },
    ]);
  });

  it("skips waiting work whose client has gone when its turn comes, and drops the result of work whose client goes while it runs", async () => {
    const queue = new Argon2Queue(1, NO_LIMIT);
    const first = deferred<string>();
    let firstGone = false;
    const begun = queue.run(() => first.promise, { clientGone: () => firstGone });
    let secondGone = false;
    let secondStarted = false;
    const skipped = queue.run(
      async () => {
        secondStarted = true;
        return "never";
      },
      { clientGone: () => secondGone },
    );
    const next = queue.run(async () => "next", { clientGone: () => false });
    expect(queue.waitingCount).toBe(2);

    secondGone = true;
    firstGone = true;
    first.resolve("hashed for nobody");
    await expect(begun).rejects.toBeInstanceOf(ClientGone);
    await expect(skipped).rejects.toBeInstanceOf(ClientGone);
    await expect(next).resolves.toBe("next");
    expect(secondStarted).toBe(false);
    // Gone before it is even queued: refused at once.
    await expect(queue.run(async () => "x", { clientGone: () => true })).rejects.toBeInstanceOf(ClientGone);
  });

  it("passes over a long run of abandoned work in one loop, not one call deep per job", async () => {
    const queue = new Argon2Queue(1, NO_LIMIT);
    const first = deferred<void>();
    const begun = queue.run(() => first.promise);
    let clientsGone = false;
    const abandoned = Array.from({ length: 20_000 }, () =>
      queue.run(async () => "never", { clientGone: () => clientsGone }),
    );
    const live = queue.run(async () => "live");
    expect(queue.waitingCount).toBe(20_001);
    clientsGone = true;
    first.resolve();
    await begun;
    await expect(live).resolves.toBe("live");
    const outcomes = await Promise.allSettled(abandoned);
    expect(
      outcomes.every((outcome) => outcome.status === "rejected" && outcome.reason instanceof ClientGone),
    ).toBe(true);
  });

  describe("refuses work that would wait longer than its limit", () => {
    /** A queue of `concurrency` whose clock the test moves, and a computation that takes `ms` by it. */
    function timedQueue(concurrency: number, maxExpectedWaitMs: number) {
      let now = 0;
      const queue = new Argon2Queue(concurrency, maxExpectedWaitMs, () => now);
      const computation = (ms: number) => {
        const job = deferred<string>();
        const result = queue.run(() => job.promise);
        return {
          result,
          finish: async () => {
            now += ms;
            job.resolve("done");
            await result;
          },
        };
      };
      /** Times `count` computations of `ms` each, which brings the queue's mean close to `ms`. */
      const timed = async (count: number, ms: number) => {
        for (let i = 0; i < count; i++) await computation(ms).finish();
      };
      const advance = (ms: number) => {
        now += ms;
      };
      return { queue, computation, timed, advance };
    }

    it("by the mean of the computations timed so far, with a Retry-After of the wait it would have had", async () => {
      const { queue, computation, timed } = timedQueue(2, 2_000);
      // The mean moves from its first estimate (100 ms) towards 200 ms.
      await timed(40, 200);

      const running = [computation(200), computation(200)];
      // Waiting: the 20th in line waits for 10 rounds of 2 at about 200 ms, the most 2 s allows.
      const waiting = Array.from({ length: 20 }, () => computation(200));
      expect(queue.waitingCount).toBe(20);
      const refused = queue.run(async () => "never");
      await expect(refused).rejects.toBeInstanceOf(Backlogged);
      const refusal = (await refused.catch((error) => error)) as Backlogged;
      expect([refusal.status, refusal.code, refusal.headers]).toEqual([
        503,
        "UNAVAILABLE",
        { "retry-after": "3" },
      ]);
      expect(queue.waitingCount).toBe(20);

      // A turn given back makes room for one more.
      await running[0]?.finish();
      expect(queue.waitingCount).toBe(19);
      const admitted = computation(200);
      expect(queue.waitingCount).toBe(20);
      for (const work of [running[1], ...waiting, admitted]) await work?.finish();
      expect(queue.waitingCount).toBe(0);
    });

    it("takes a computation to cost 100 ms until one has been timed", async () => {
      const { queue, computation } = timedQueue(1, 1_000);
      const running = computation(20);
      const waiting = Array.from({ length: 10 }, () => computation(20));
      await expect(queue.run(async () => "eleventh")).rejects.toBeInstanceOf(Backlogged);
      for (const work of [running, ...waiting]) await work.finish();
    });

    it("never refuses work that can start at once, whatever the limit", async () => {
      const { queue } = timedQueue(1, 0);
      await expect(queue.run(async () => "now")).resolves.toBe("now");
      const held = deferred<string>();
      const first = queue.run(() => held.promise);
      await expect(queue.run(async () => "waits")).rejects.toBeInstanceOf(Backlogged);
      held.resolve("first");
      await expect(first).resolves.toBe("first");
    });

    it("does not count waiting work whose client has gone: it is refused, and the newcomer let in", async () => {
      const { queue, computation, timed, advance } = timedQueue(1, 160);
      // About 50 ms each: three may wait.
      await timed(40, 50);
      const running = computation(50);
      let gone = false;
      const abandoned = [0, 1, 2].map(() => queue.run(async () => "never", { clientGone: () => gone }));
      expect(queue.waitingCount).toBe(3);
      await expect(queue.run(async () => "no room")).rejects.toBeInstanceOf(Backlogged);
      gone = true;
      // The refusal above searched the list; the next search is a second later.
      advance(1_000);
      const newcomer = queue.run(async () => "in");
      expect(queue.waitingCount).toBe(1);
      for (const work of abandoned) await expect(work).rejects.toBeInstanceOf(ClientGone);
      await running.finish();
      await expect(newcomer).resolves.toBe("in");
    });

    it("searches the waiting list for work whose client has gone at most once a second", async () => {
      let now = 0;
      // Until computations are timed one is taken to cost 100 ms: one may wait, not two.
      const queue = new Argon2Queue(1, 100, () => now);
      const held = deferred<string>();
      const running = queue.run(() => held.promise);
      let asked = 0;
      const waiting = queue.run(async () => "waited", {
        clientGone: () => {
          asked++;
          return false;
        },
      });
      // What waits stays (its client is there), and the newcomers are refused.
      await expect(queue.run(async () => "refused")).rejects.toBeInstanceOf(Backlogged);
      await expect(queue.run(async () => "refused")).rejects.toBeInstanceOf(Backlogged);
      expect(asked).toBe(2); // when it was put on the list, and by the first refusal's search
      now += 1_000;
      await expect(queue.run(async () => "refused")).rejects.toBeInstanceOf(Backlogged);
      expect(asked).toBe(3);
      held.resolve("done");
      await running;
      await expect(waiting).resolves.toBe("waited");
    });
  });

  describe("between tenants", () => {
    /** A queue of one at a time, its turn held, and work that records whose it is when it starts. */
    function heldQueue(maxExpectedWaitMs: number) {
      const queue = new Argon2Queue(1, maxExpectedWaitMs);
      const held = deferred<string>();
      const holding = queue.run(() => held.promise, { tenant: "holder" });
      const started: string[] = [];
      const ask = (tenant: string, label = tenant) =>
        queue.run(
          async () => {
            started.push(label);
            return label;
          },
          { tenant },
        );
      const release = async () => {
        held.resolve("held");
        await holding;
      };
      return { queue, started, ask, release };
    }

    it("starts work in the order it was let in, whoever's it is", async () => {
      const { started, ask, release } = heldQueue(NO_LIMIT);
      const asked = [
        ask("ws_a", "a1"),
        ask("ws_a", "a2"),
        ask("ws_b", "b1"),
        ask("ws_a", "a3"),
        ask("ws_c", "c1"),
      ];
      await release();
      await Promise.all(asked);
      expect(started).toEqual(["a1", "a2", "b1", "a3", "c1"]);
    });

    it("lets a tenant in past a full list by refusing the newest work of the tenant with the most waiting", async () => {
      // Until computations are timed one is taken to cost 100 ms: with 500 ms, five may wait.
      const { queue, started, ask, release } = heldQueue(500);
      const flood = Array.from({ length: 5 }, (_, i) => ask("ws_flood", `f${i + 1}`));
      await expect(ask("ws_flood", "f6")).rejects.toBeInstanceOf(Backlogged);
      const other = ask("ws_other", "o1");
      expect(queue.waitingCount).toBe(5);
      // The flood's newest gave its place, with the Retry-After a newcomer would have had.
      const pushedOut = (await flood[4]?.catch((error) => error)) as Backlogged;
      expect([pushedOut instanceof Backlogged, pushedOut.headers]).toEqual([true, { "retry-after": "1" }]);
      await release();
      await Promise.all([other, ...flood.slice(0, 4)]);
      // Let in behind what already waited, and before nothing that was let in earlier.
      expect(started).toEqual(["f1", "f2", "f3", "f4", "o1"]);
    });

    it("does not let a tenant in by refusing another that would then have no more waiting than it", async () => {
      const { queue, started, ask, release } = heldQueue(400);
      // Four may wait: two each.
      const waiting = [ask("ws_a", "a1"), ask("ws_a", "a2"), ask("ws_b", "b1"), ask("ws_b", "b2")];
      await expect(ask("ws_a")).rejects.toBeInstanceOf(Backlogged);
      await expect(ask("ws_b")).rejects.toBeInstanceOf(Backlogged);
      const c1 = ask("ws_c", "c1"); // in, for a2
      await expect(waiting[1]).rejects.toBeInstanceOf(Backlogged);
      // ws_c with two would only trade places with ws_b: refused.
      await expect(ask("ws_c", "c2")).rejects.toBeInstanceOf(Backlogged);
      expect(queue.waitingCount).toBe(4);
      await release();
      await Promise.all([waiting[0], waiting[2], waiting[3], c1]);
      expect(started).toEqual(["a1", "b1", "b2", "c1"]);
    });

    it("forgets a tenant's abandoned work once refused: it does not count against that tenant later", async () => {
      // Until computations are timed one is taken to cost 100 ms: with 300 ms, three may wait.
      const queue = new Argon2Queue(1, 300, () => 0);
      const held = deferred<string>();
      const holding = queue.run(() => held.promise, { tenant: "holder" });
      const started: string[] = [];
      const ask = (tenant: string, label: string, clientGone?: () => boolean) =>
        queue.run(
          async () => {
            started.push(label);
            return label;
          },
          { tenant, clientGone },
        );
      let gone = false;
      const abandoned = [1, 2, 3].map((i) => ask("ws_c", `gone${i}`, () => gone));
      gone = true;
      // The list is full: the search refuses ws_c's abandoned work, and b1 is let in.
      const b = [ask("ws_b", "b1"), ask("ws_b", "b2"), ask("ws_b", "b3")];
      for (const work of abandoned) await expect(work).rejects.toBeInstanceOf(ClientGone);
      expect(queue.waitingCount).toBe(3);
      // Full again, all ws_b's: ws_c has nothing waiting, so its work takes the place of ws_b's newest.
      const c1 = ask("ws_c", "c1");
      held.resolve("held");
      await holding;
      const outcomes = await Promise.allSettled([...b, c1]);
      expect(outcomes.map((outcome) => outcome.status)).toEqual([
        "fulfilled",
        "fulfilled",
        "rejected",
        "fulfilled",
      ]);
      expect((outcomes[2] as PromiseRejectedResult).reason).toBeInstanceOf(Backlogged);
      expect(started).toEqual(["b1", "b2", "c1"]);
    });
  });

  it("runs one fewer than there are cores, leaving one thread of libuv's pool free, and never fewer than one", () => {
    // A core is left to the event loop, which answers every verify; a thread to the rest of the process.
    expect(defaultArgon2Concurrency({}, 1)).toBe(1);
    expect(defaultArgon2Concurrency({}, 2)).toBe(1);
    expect(defaultArgon2Concurrency({}, 3)).toBe(2);
    expect(defaultArgon2Concurrency({}, 16)).toBe(3); // libuv's default pool is 4 threads
    expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: "64" }, 2)).toBe(1);
    expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: "64" }, 16)).toBe(15);
    expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: "1" }, 16)).toBe(1);
    expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: "2" }, 16)).toBe(1);
    // This machine's, by default.
    const cores = availableParallelism();
    expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: "64" })).toBe(Math.max(1, Math.min(cores - 1, 63)));
  });

  // libuv reads the variable with C's atoi: no number, or 0, is a pool of one thread, which argon2 must
  // not be counted on to leave free for the rest of the process by reading it as the default of 4.
  it("reads UV_THREADPOOL_SIZE as libuv does", () => {
    for (const size of ["nonsense", "", "0"])
      expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: size }, 16)).toBe(1);
    expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: "3abc" }, 16)).toBe(2);
    expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: " 3" }, 16)).toBe(2);
    expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: "3.9" }, 16)).toBe(2);
    // A negative size wraps (libuv's is unsigned) to the most it takes: the cores decide.
    expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: "-3" }, 16)).toBe(15);
    expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: "-3" }, 2048)).toBe(1023);
  });
});
