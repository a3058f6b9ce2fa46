import assert from "node:assert/strict";
import { Batcher } from "../../../src/postgres/batcher.ts";
import {
  isSettled,
  nextTurn,
  unhandledRejections,
  useFakeTime,
} from "../helpers.ts";

/** A flush whose calls are recorded and answered by the test. */
function manualFlush<Item, Result>() {
  const calls: {
    items: Item[];
    answer: PromiseWithResolvers<(Result | Error)[]>;
  }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const flush = (items: Item[]) => {
    const answer = Promise.withResolvers<(Result | Error)[]>();
    calls.push({ items, answer });
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    return answer.promise.finally(() => inFlight--);
  };
  return {
    flush,
    calls,
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

Deno.test("Batcher.add() sends a lone item a microtask later", async () => {
  const sent: number[][] = [];
  const batcher = new Batcher<number, string>((items) => {
    sent.push(items);
    return Promise.resolve(items.map(String));
  });
  const result = batcher.add(1);
  assert.deepEqual(sent, []);
  await Promise.resolve();
  assert.deepEqual(sent, [[1]]);
  assert.equal(await result, "1");
});

Deno.test("Batcher sends the items added in one synchronous stretch together", async () => {
  const { flush, calls } = manualFlush<number, number>();
  const batcher = new Batcher(flush, 1);
  const added = [batcher.add(1), batcher.add(2)];
  await Promise.resolve();
  assert.deepEqual(calls.map((call) => call.items), [[1, 2]]);
  const later = batcher.add(3); // while that batch is in flight
  await nextTurn();
  assert.deepEqual(calls.map((call) => call.items), [[1, 2]]);
  calls[0].answer.resolve([10, 20]);
  assert.deepEqual(await Promise.all(added), [10, 20]);
  await nextTurn();
  assert.deepEqual(calls.map((call) => call.items), [[1, 2], [3]]);
  calls[1].answer.resolve([30]);
  assert.equal(await later, 30);
});

Deno.test("Batcher groups the items added in one turn while batches are in flight into one flush", async () => {
  const { flush, calls } = manualFlush<number, number>();
  const batcher = new Batcher(flush, 1);
  const first = batcher.add(1);
  await Promise.resolve(); // sent alone
  const rest = [batcher.add(2), batcher.add(3), batcher.add(4)];
  assert.deepEqual(calls.map((call) => call.items), [[1]]);
  calls[0].answer.resolve([10]);
  assert.equal(await first, 10);
  await nextTurn();
  assert.deepEqual(calls.map((call) => call.items), [[1], [2, 3, 4]]);
  calls[1].answer.resolve([20, 30, 40]);
  assert.deepEqual(await Promise.all(rest), [20, 30, 40]);
});

Deno.test("Batcher keeps at most maxInFlight batches in flight", async () => {
  const manual = manualFlush<number, number>();
  const batcher = new Batcher(manual.flush, 2);
  const results: Promise<number>[] = [];
  for (const item of [1, 2]) {
    results.push(batcher.add(item));
    await Promise.resolve(); // sent alone
  }
  results.push(...[3, 4, 5].map((item) => batcher.add(item)));
  await Promise.resolve();
  assert.deepEqual(manual.calls.map((call) => call.items), [[1], [2]]);
  manual.calls[1].answer.resolve([2]);
  await nextTurn();
  assert.deepEqual(
    manual.calls.map((call) => call.items),
    [[1], [2], [3, 4, 5]],
  );
  manual.calls[0].answer.resolve([1]);
  manual.calls[2].answer.resolve([3, 4, 5]);
  assert.deepEqual(await Promise.all(results), [1, 2, 3, 4, 5]);
  assert.equal(manual.maxInFlight, 2);
});

Deno.test("Batcher sends at most maxBatch items in one flush", async () => {
  const sent: number[][] = [];
  const blocker = Promise.withResolvers<number[]>();
  const batcher = new Batcher<number, number>(
    (items) => {
      sent.push(items);
      return sent.length === 1 ? blocker.promise : Promise.resolve(items);
    },
    1,
    2,
  );
  const results = [batcher.add(0)];
  await Promise.resolve(); // sent alone
  results.push(...[1, 2, 3, 4, 5].map((item) => batcher.add(item)));
  blocker.resolve([0]);
  assert.deepEqual(await Promise.all(results), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(sent, [[0], [1, 2], [3, 4], [5]]);
});

Deno.test("Batcher routes each outcome to its own caller, in order", async () => {
  const { flush, calls } = manualFlush<string, string>();
  const batcher = new Batcher(flush, 1);
  const first = batcher.add("a");
  await Promise.resolve(); // sent alone
  const rest = ["b", "c", "d"].map((item) => batcher.add(item));
  calls[0].answer.resolve(["A"]);
  await first;
  await nextTurn();
  calls[1].answer.resolve(calls[1].items.map((item) => item.toUpperCase()));
  assert.deepEqual(await Promise.all(rest), ["B", "C", "D"]);
});

Deno.test("Batcher rejects only the caller whose outcome is an Error", async () => {
  const { flush, calls } = manualFlush<number, number>();
  const batcher = new Batcher(flush, 1);
  const first = batcher.add(0);
  await Promise.resolve(); // sent alone
  const results = [1, 2, 3].map((item) => batcher.add(item));
  calls[0].answer.resolve([0]);
  await first;
  await nextTurn();
  const refused = new RangeError("item 2 refused");
  calls[1].answer.resolve([10, refused, 30]);
  const settled = await Promise.allSettled(results);
  assert.deepEqual(settled, [
    { status: "fulfilled", value: 10 },
    { status: "rejected", reason: refused },
    { status: "fulfilled", value: 30 },
  ]);
  assert.equal((settled[1] as PromiseRejectedResult).reason, refused);
});

Deno.test("Batcher rejects every caller of a batch whose flush rejects, and goes on", async () => {
  const { flush, calls } = manualFlush<number, number>();
  const batcher = new Batcher(flush, 1);
  const first = batcher.add(0);
  await Promise.resolve(); // sent alone
  const batch = [1, 2].map((item) => batcher.add(item));
  calls[0].answer.resolve([0]);
  await first;
  await nextTurn();
  const failure = new Error("connection reset");
  calls[1].answer.reject(failure);
  for (const result of batch) {
    await assert.rejects(result, (error) => error === failure);
  }
  const later = batcher.add(3);
  await Promise.resolve();
  calls[2].answer.resolve([3]);
  assert.equal(await later, 3);
});

Deno.test("Batcher rejects the batch of a flush that throws at once", async () => {
  const failure = new TypeError("bad statement");
  let calls = 0;
  const batcher = new Batcher<number, number>((items) => {
    calls++;
    if (calls === 1) throw failure;
    return Promise.resolve(items);
  });
  await assert.rejects(batcher.add(1), (error) => error === failure);
  assert.equal(await batcher.add(2), 2);
});

Deno.test("Batcher rejects a batch whose flush never settles with the timeout error", async () => {
  using time = useFakeTime();
  const timeout = new Error("database did not answer");
  let errors = 0;
  const sent: number[][] = [];
  const batcher = new Batcher<number, number>(
    (items) => {
      sent.push(items);
      return sent.length === 1 ? new Promise(() => {}) : Promise.resolve(items);
    },
    1,
    500,
    1000,
    () => {
      errors++;
      return timeout;
    },
  );
  const hung = [batcher.add(1)];
  await Promise.resolve(); // sent alone
  const queued = [batcher.add(2), batcher.add(3)];
  hung.push(batcher.add(4)); // queued behind the hung batch too
  time.tick(999);
  assert.equal(await isSettled(hung[0]), false);
  assert.deepEqual(sent, [[1]]);
  assert.equal(errors, 0);
  await time.tickAsync(1);
  await assert.rejects(hung[0], (error) => error === timeout);
  assert.equal(errors, 1);
  // The batch queued behind it goes out then.
  assert.deepEqual(sent, [[1], [2, 3, 4]]);
  assert.deepEqual(await Promise.all([...queued, hung[1]]), [2, 3, 4]);
});

Deno.test("Batcher times out after 20 s by default, with an error saying so", async () => {
  using time = useFakeTime();
  const batcher = new Batcher<number, number>(() => new Promise(() => {}));
  const result = batcher.add(1);
  await Promise.resolve(); // sent
  time.tick(19_999);
  assert.equal(await isSettled(result), false);
  time.tick(1);
  await assert.rejects(result, {
    name: "Error",
    message: "No answer within 20000 ms",
  });
});

Deno.test("Batcher ignores the answer of a flush that came after its timeout", async () => {
  using time = useFakeTime();
  const late = Promise.withResolvers<number[]>();
  const batcher = new Batcher<number, number>(
    () => late.promise,
    1,
    10,
    50,
    () => new Error("timeout"),
  );
  const reasons = await unhandledRejections(async () => {
    const result = batcher.add(1);
    await Promise.resolve(); // sent
    time.tick(50);
    await assert.rejects(result, { message: "timeout" });
    late.reject(new Error("answer after the timeout"));
  });
  assert.deepEqual(reasons, []);
});

Deno.test("Batcher rejects every caller of a flush that answers the wrong number of outcomes", async () => {
  const short = new Batcher<number, number>(() => Promise.resolve([]), 1);
  await assert.rejects(
    short.add(1),
    (error) =>
      error instanceof TypeError && /got 0 outcomes/.test(error.message),
  );
  const none = new Batcher<number, number>(
    () => Promise.resolve(undefined as unknown as number[]),
    1,
  );
  await assert.rejects(none.add(1), TypeError);
});
