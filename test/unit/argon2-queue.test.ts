import { describe, expect, it } from "vitest";
import {
  Argon2Queue,
  ClientGone,
  defaultArgon2Concurrency,
  ShuttingDown,
} from "../../src/keys/argon2-queue.js";
import { deferred } from "../support/verify.js";

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe("Argon2Queue", () => {
  it("runs at most its concurrency at once, the rest in the order asked", async () => {
    const queue = new Argon2Queue(2);
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
    const queue = new Argon2Queue(1);
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
    const queue = new Argon2Queue(1);
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
    const queue = new Argon2Queue(1);
    const first = deferred<string>();
    let firstGone = false;
    const begun = queue.run(
      () => first.promise,
      () => firstGone,
    );
    let secondGone = false;
    let secondStarted = false;
    const skipped = queue.run(
      async () => {
        secondStarted = true;
        return "never";
      },
      () => secondGone,
    );
    const next = queue.run(
      async () => "next",
      () => false,
    );
    expect(queue.waitingCount).toBe(2);

    secondGone = true;
    firstGone = true;
    first.resolve("hashed for nobody");
    await expect(begun).rejects.toBeInstanceOf(ClientGone);
    await expect(skipped).rejects.toBeInstanceOf(ClientGone);
    await expect(next).resolves.toBe("next");
    expect(secondStarted).toBe(false);
    // Gone before it is even queued: refused at once.
    await expect(
      queue.run(
        async () => "x",
        () => true,
      ),
    ).rejects.toBeInstanceOf(ClientGone);
  });

  it("passes over a long run of abandoned work in one loop, not one call deep per job", async () => {
    const queue = new Argon2Queue(1);
    const first = deferred<void>();
    const begun = queue.run(() => first.promise);
    let clientsGone = false;
    const abandoned = Array.from({ length: 20_000 }, () =>
      queue.run(
        async () => "never",
        () => clientsGone,
      ),
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

  it("runs as many as there are cores, leaving one thread of libuv's pool free, and never fewer than one", () => {
    expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: "1" })).toBe(1);
    expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: "2" })).toBe(1);
    expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: "64" })).toBeGreaterThanOrEqual(1);
    expect(defaultArgon2Concurrency({})).toBeLessThanOrEqual(3);
    expect(defaultArgon2Concurrency({ UV_THREADPOOL_SIZE: "nonsense" })).toBeLessThanOrEqual(3);
  });
});
