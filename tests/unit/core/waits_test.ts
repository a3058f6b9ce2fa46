import assert from "node:assert/strict";
import {
  delay,
  follow,
  onAbort,
  raceAbort,
  setLongTimeout,
  Wakeup,
  withTimeout,
} from "../../../src/core/waits.ts";
import {
  isSettled,
  nextTurn,
  unhandledRejections,
  useFakeTime,
} from "../helpers.ts";

/** The longest delay `setTimeout` honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Tracks the abort listeners added to `signal` and not removed (for
 * signals that never abort, whose `once` listeners stay until removed).
 */
function trackListeners(signal: AbortSignal): { readonly count: number } {
  const listeners = new Set<unknown>();
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | AddEventListenerOptions,
  ) => {
    if (type === "abort") listeners.add(listener);
    add(type, listener, options);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | EventListenerOptions,
  ) => {
    if (type === "abort") listeners.delete(listener);
    remove(type, listener, options);
  }) as typeof signal.removeEventListener;
  return {
    get count() {
      return listeners.size;
    },
  };
}

// delay

Deno.test("delay() resolves after ms", async () => {
  using time = useFakeTime();
  const done = delay(100);
  time.tick(99);
  assert.equal(await isSettled(done), false);
  time.tick(1);
  assert.equal(await isSettled(done), true);
  assert.equal(await done, undefined);
});

Deno.test("delay() resolves at once when its signal aborts, without rejecting", async () => {
  using _time = useFakeTime();
  const controller = new AbortController();
  const done = delay(10_000, controller.signal);
  assert.equal(await isSettled(done), false);
  controller.abort(new Error("stop"));
  assert.equal(await isSettled(done), true);
  assert.equal(await done, undefined);
});

Deno.test("delay() resolves at once when its signal is already aborted", async () => {
  using _time = useFakeTime();
  const done = delay(10_000, AbortSignal.abort(new Error("stop")));
  assert.equal(await isSettled(done), true);
});

Deno.test({
  name: "delay() cut short by its signal leaves no timer behind",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    // Real timers: a 60 s timer left running would fail the op sanitizer.
    const controller = new AbortController();
    const done = delay(60_000, controller.signal);
    controller.abort();
    await done;
  },
});

Deno.test("delay() adds no listener per call to its signal", async () => {
  using time = useFakeTime();
  const controller = new AbortController();
  const listeners = trackListeners(controller.signal);
  for (let i = 0; i < 100; i++) {
    const done = delay(50, controller.signal);
    time.tick(50);
    await done;
  }
  assert.equal(listeners.count, 1, "one listener for the signal's life");
  const pending = delay(50, controller.signal);
  controller.abort(new Error("now"));
  assert.equal(await isSettled(pending), true, "ended by the abort");
});

Deno.test("delay() longer than setTimeout's limit does not resolve at once", async () => {
  using time = useFakeTime();
  const done = delay(MAX_TIMER_MS + 10_000);
  time.tick(1); // where a bare setTimeout of this length would fire
  assert.equal(await isSettled(done), false);
  time.tick(MAX_TIMER_MS - 2);
  assert.equal(await isSettled(done), false);
});

// Wakeup

Deno.test("Wakeup.wait() resolves after ms when nobody wakes it", async () => {
  using time = useFakeTime();
  const wakeup = new Wakeup();
  const waited = wakeup.wait(200);
  time.tick(199);
  assert.equal(await isSettled(waited), false);
  time.tick(1);
  assert.equal(await isSettled(waited), true);
  assert.equal(wakeup.isWaiting, false);
});

Deno.test("Wakeup.wake() during a wait ends it", async () => {
  using _time = useFakeTime();
  const wakeup = new Wakeup();
  assert.equal(wakeup.isWaiting, false);
  const waited = wakeup.wait(60_000);
  assert.equal(wakeup.isWaiting, true);
  assert.equal(await isSettled(waited), false);
  wakeup.wake();
  assert.equal(await isSettled(waited), true);
  assert.equal(wakeup.isWaiting, false);
  // The wake-up was used up by that wait.
  assert.equal(await isSettled(wakeup.wait(60_000)), false);
});

Deno.test("Wakeup.wake() with nobody waiting makes the next wait immediate exactly once", async () => {
  using time = useFakeTime();
  const wakeup = new Wakeup();
  wakeup.wake();
  wakeup.wake(); // wake-ups while idle do not add up
  assert.equal(wakeup.isWaiting, false);
  const first = wakeup.wait(1000);
  assert.equal(wakeup.isWaiting, false);
  assert.equal(await isSettled(first), true);
  const second = wakeup.wait(1000);
  assert.equal(wakeup.isWaiting, true);
  assert.equal(await isSettled(second), false);
  time.tick(1000);
  assert.equal(await isSettled(second), true);
});

Deno.test("Wakeup.wake() after a wait timed out is kept for the next wait", async () => {
  using time = useFakeTime();
  const wakeup = new Wakeup();
  const first = wakeup.wait(10);
  time.tick(10);
  await first;
  wakeup.wake();
  assert.equal(await isSettled(wakeup.wait(1000)), true);
});

Deno.test("Wakeup.wait() ends when its signal aborts", async () => {
  using _time = useFakeTime();
  const wakeup = new Wakeup();
  const controller = new AbortController();
  const waited = wakeup.wait(60_000, controller.signal);
  assert.equal(await isSettled(waited), false);
  controller.abort();
  assert.equal(await isSettled(waited), true);
  assert.equal(wakeup.isWaiting, false);
});

Deno.test("Wakeup.wait() with an aborted signal resolves at once", async () => {
  using _time = useFakeTime();
  const wakeup = new Wakeup();
  const waited = wakeup.wait(60_000, AbortSignal.abort());
  assert.equal(wakeup.isWaiting, false);
  assert.equal(await isSettled(waited), true);
});

Deno.test("Wakeup.wait() adds no listener per wait to its signal", async () => {
  using time = useFakeTime();
  const wakeup = new Wakeup();
  const controller = new AbortController();
  const listeners = trackListeners(controller.signal);
  const timedOut = wakeup.wait(10, controller.signal);
  assert.equal(listeners.count, 1);
  time.tick(10);
  await timedOut;
  const woken = wakeup.wait(10, controller.signal);
  wakeup.wake();
  await woken;
  assert.equal(listeners.count, 1, "one listener for the signal's life");
});

// follow

Deno.test("follow() aborts the controller with the signal's reason", () => {
  const source = new AbortController();
  const target = new AbortController();
  follow(source.signal, target);
  assert.equal(target.signal.aborted, false);
  const reason = new Error("run canceled");
  source.abort(reason);
  assert.equal(target.signal.aborted, true);
  assert.equal(target.signal.reason, reason);
});

Deno.test("follow() passes on the default abort reason too", () => {
  const source = new AbortController();
  const target = new AbortController();
  follow(source.signal, target);
  source.abort();
  assert.ok(source.signal.reason instanceof DOMException);
  assert.equal(target.signal.reason, source.signal.reason);
});

Deno.test("follow() does not propagate an abort after unfollow()", () => {
  const source = new AbortController();
  const target = new AbortController();
  const listeners = trackListeners(source.signal);
  const { unfollow } = follow(source.signal, target);
  assert.equal(listeners.count, 1);
  unfollow();
  source.abort(new Error("late"));
  assert.equal(target.signal.aborted, false);
  unfollow(); // harmless twice
});

Deno.test("follow() of an already aborted signal aborts the controller at once", () => {
  const reason = new Error("already");
  const target = new AbortController();
  const { unfollow } = follow(AbortSignal.abort(reason), target);
  assert.equal(target.signal.aborted, true);
  assert.equal(target.signal.reason, reason);
  unfollow();
  assert.equal(target.signal.reason, reason);
});

Deno.test("follow() links one way only", () => {
  const source = new AbortController();
  const target = new AbortController();
  follow(source.signal, target);
  target.abort();
  assert.equal(source.signal.aborted, false);
});

// setLongTimeout

Deno.test("setLongTimeout() calls fn once after ms", () => {
  using time = useFakeTime();
  let calls = 0;
  setLongTimeout(() => calls++, 500);
  time.tick(499);
  assert.equal(calls, 0);
  time.tick(1);
  assert.equal(calls, 1);
  time.tick(10_000);
  assert.equal(calls, 1);
});

Deno.test("setLongTimeout() with a negative ms calls fn on the next timer turn", () => {
  using time = useFakeTime();
  let calls = 0;
  setLongTimeout(() => calls++, -50);
  assert.equal(calls, 0);
  time.tick(1);
  assert.equal(calls, 1);
});

Deno.test("setLongTimeout() does not call fn once canceled", () => {
  using time = useFakeTime();
  let calls = 0;
  const cancel = setLongTimeout(() => calls++, 500);
  time.tick(200);
  cancel();
  time.tick(10_000);
  assert.equal(calls, 0);
  cancel(); // harmless again
});

Deno.test("setLongTimeout() cancel after the call is harmless", () => {
  using time = useFakeTime();
  let calls = 0;
  const cancel = setLongTimeout(() => calls++, 5);
  time.tick(5);
  cancel();
  assert.equal(calls, 1);
});

Deno.test("setLongTimeout() over setTimeout's limit does not fire early", () => {
  using time = useFakeTime();
  const ms = MAX_TIMER_MS + 5000;
  let calls = 0;
  setLongTimeout(() => calls++, ms);
  time.tick(1); // where a bare setTimeout would fire
  assert.equal(calls, 0);
  time.tick(MAX_TIMER_MS - 1); // the first step is over
  assert.equal(calls, 0);
  time.tick(4999);
  assert.equal(calls, 0);
  time.tick(1);
  assert.equal(calls, 1);
  time.tick(MAX_TIMER_MS);
  assert.equal(calls, 1);
});

Deno.test("setLongTimeout() waits out several steps for 60 days", () => {
  using time = useFakeTime();
  const ms = 60 * 24 * 3600 * 1000; // about 2.4 × the limit
  let calledAt: number | null = null;
  const startedAt = Date.now();
  setLongTimeout(() => calledAt = Date.now() - startedAt, ms);
  for (let i = 0; i < 6; i++) time.tick(ms / 6 - 1);
  assert.equal(calledAt, null);
  time.tick(6);
  assert.equal(calledAt, ms);
});

Deno.test("setLongTimeout() canceled between steps does not call fn", () => {
  using time = useFakeTime();
  let calls = 0;
  const cancel = setLongTimeout(() => calls++, 3 * MAX_TIMER_MS);
  time.tick(MAX_TIMER_MS + 10); // re-armed for the second step
  cancel();
  time.tick(3 * MAX_TIMER_MS);
  assert.equal(calls, 0);
});

// raceAbort

Deno.test("raceAbort() settles like the promise when not aborted", async () => {
  const controller = new AbortController();
  assert.equal(await raceAbort(Promise.resolve(42), controller.signal), 42);
  const error = new Error("failed");
  await assert.rejects(
    raceAbort(Promise.reject(error), controller.signal),
    (thrown) => thrown === error,
  );
});

Deno.test("raceAbort() leaves nothing to call once the promise settled", async () => {
  const controller = new AbortController();
  const listeners = trackListeners(controller.signal);
  let aborts = 0;
  const raced = raceAbort(Promise.resolve("x"), controller.signal);
  raced.catch(() => aborts++);
  assert.equal(listeners.count, 1);
  assert.equal(await raced, "x");
  await nextTurn();
  // The signal keeps its one listener, but an abort now rejects nothing.
  const again = raceAbort(Promise.resolve("y"), controller.signal);
  assert.equal(listeners.count, 1, "one listener for both races");
  assert.equal(await again, "y");
  controller.abort(new Error("late"));
  await nextTurn();
  assert.equal(aborts, 0);
});

Deno.test("raceAbort() rejects with signal.reason on abort, swallowing a late rejection", async () => {
  const controller = new AbortController();
  const reason = new Error("aborted");
  let rejectLate!: (error: unknown) => void;
  const slow = new Promise<never>((_, reject) => rejectLate = reject);
  const reasons = await unhandledRejections(async () => {
    const raced = raceAbort(slow, controller.signal);
    controller.abort(reason);
    await assert.rejects(raced, (thrown) => thrown === reason);
    rejectLate(new Error("too late"));
  });
  assert.deepEqual(reasons, []);
});

Deno.test("raceAbort() with an aborted signal rejects at once, swallowing a late rejection", async () => {
  const reason = new Error("already aborted");
  let rejectLate!: (error: unknown) => void;
  const slow = new Promise<never>((_, reject) => rejectLate = reject);
  const reasons = await unhandledRejections(async () => {
    const raced = raceAbort(slow, AbortSignal.abort(reason));
    assert.equal(await isSettled(raced), true);
    await assert.rejects(raced, (thrown) => thrown === reason);
    rejectLate(new Error("too late"));
  });
  assert.deepEqual(reasons, []);
});

Deno.test("raceAbort() keeps the promise's value when aborted after it settled", async () => {
  const controller = new AbortController();
  const raced = raceAbort(Promise.resolve("first"), controller.signal);
  await nextTurn();
  controller.abort(new Error("after"));
  assert.equal(await raced, "first");
});

// withTimeout

Deno.test("withTimeout() rejects with the timedOut() value after ms", async () => {
  using time = useFakeTime();
  const error = new Error("no answer");
  let calls = 0;
  const raced = withTimeout(new Promise(() => {}), 500, () => {
    calls++;
    return error;
  });
  time.tick(499);
  assert.equal(await isSettled(raced), false);
  assert.equal(calls, 0);
  time.tick(1);
  await assert.rejects(raced, (thrown) => thrown === error);
  assert.equal(calls, 1);
});

Deno.test("withTimeout() rejects with whatever timedOut() returns, null included", async () => {
  using time = useFakeTime();
  const raced = withTimeout(new Promise(() => {}), 10, () => null);
  time.tick(10);
  await assert.rejects(raced, (thrown) => thrown === null);
});

Deno.test("withTimeout() with a negative ms times out on the next timer turn", async () => {
  using time = useFakeTime();
  const raced = withTimeout(new Promise(() => {}), -5, () => "late");
  time.tick(1);
  await assert.rejects(raced, (thrown) => thrown === "late");
});

Deno.test("withTimeout() settles like the promise when it is first", async () => {
  using time = useFakeTime();
  let calls = 0;
  const timedOut = () => {
    calls++;
    return new Error("timeout");
  };
  assert.equal(await withTimeout(Promise.resolve(7), 100, timedOut), 7);
  const error = new Error("own failure");
  await assert.rejects(
    withTimeout(Promise.reject(error), 100, timedOut),
    (thrown) => thrown === error,
  );
  time.tick(1000);
  assert.equal(calls, 0);
});

Deno.test({
  name: "withTimeout() leaves no timer behind once the promise settled",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    // Real timers: a 60 s timer left running would fail the op sanitizer.
    assert.equal(await withTimeout(Promise.resolve(1), 60_000, () => 0), 1);
    await assert.rejects(
      withTimeout(Promise.reject(new Error("x")), 60_000, () => 0),
      Error,
    );
  },
});

Deno.test("withTimeout() swallows a rejection after the timeout", async () => {
  using time = useFakeTime();
  let rejectLate!: (error: unknown) => void;
  const slow = new Promise<never>((_, reject) => rejectLate = reject);
  const reasons = await unhandledRejections(async () => {
    const raced = withTimeout(slow, 20, () => "timeout");
    time.tick(20);
    await assert.rejects(raced, (thrown) => thrown === "timeout");
    rejectLate(new Error("too late"));
  });
  assert.deepEqual(reasons, []);
});

Deno.test("withTimeout() over setTimeout's limit does not time out early", async () => {
  using time = useFakeTime();
  const raced = withTimeout(
    new Promise(() => {}),
    MAX_TIMER_MS + 1000,
    () => "timeout",
  );
  time.tick(MAX_TIMER_MS);
  assert.equal(await isSettled(raced), false);
  time.tick(999);
  assert.equal(await isSettled(raced), false);
  time.tick(1);
  await assert.rejects(raced, (thrown) => thrown === "timeout");
});

Deno.test("delay() waits out a delay longer than setTimeout's limit", async () => {
  using time = useFakeTime();
  const day = 86_400_000;
  const waited = delay(30 * day);
  await time.tickAsync(25 * day);
  assert.equal(await isSettled(waited), false, "not after 25 days");
  await time.tickAsync(5 * day);
  assert.equal(await isSettled(waited), true, "after 30 days");
});

Deno.test("onAbort() gives a signal one listener however many wait on it, for its life", () => {
  const controller = new AbortController();
  const listeners = trackListeners(controller.signal);
  const called: number[] = [];
  const stops = Array.from(
    { length: 1_000 },
    (_, i) => onAbort(controller.signal, () => called.push(i)),
  );
  assert.equal(listeners.count, 1);
  for (const stop of stops.slice(0, 999)) stop();
  stops[999]();
  stops[999](); // harmless twice
  assert.equal(listeners.count, 1, "kept when none waits");
  // Callbacks added after the last went are heard, on the same listener;
  // the same function may wait twice.
  const twice = () => called.push(-3);
  const stop = onAbort(controller.signal, () => called.push(-1));
  const kept = onAbort(controller.signal, () => called.push(-2));
  onAbort(controller.signal, twice);
  onAbort(controller.signal, twice);
  assert.equal(listeners.count, 1);
  stop();
  controller.abort();
  assert.deepEqual(called, [-2, -3, -3]);
  kept(); // after the abort: nothing to remove, nothing thrown
});

Deno.test("onAbort() calls back at once for an aborted signal, and each callback once", () => {
  const controller = new AbortController();
  let calls = 0;
  onAbort(controller.signal, () => calls++);
  controller.abort();
  controller.abort();
  assert.equal(calls, 1);
  onAbort(controller.signal, () => calls++);
  assert.equal(calls, 2);
});
