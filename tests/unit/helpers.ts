/**
 * Helpers of the unit tests.
 *
 * Fake time: `node:test`'s mock timers fake
 * `setTimeout`, `clearTimeout` and `Date` under Deno, but leave
 * `performance.now()` real, so while fake time is on it is made to follow
 * the mocked clock too (what `setLongTimeout` reads).
 *
 * Mocked timers fire synchronously inside `tick()`, with no promise
 * callbacks run between them; `tickAsync()` also lets the promise callbacks
 * (and one turn of the event loop) run afterwards.
 */

import { mock } from "node:test";

/** The fake clock of one test; `using` it turns fake time off at the end. */
export interface FakeTime extends Disposable {
  /** Moves the clock on by `ms`, firing the timers due meanwhile. */
  tick(ms: number): void;
  /** `tick(ms)`, then lets pending promise callbacks run. */
  tickAsync(ms: number): Promise<void>;
}

/** The fake clock starts here: 2030-01-01T00:00:00.000Z. */
export const FAKE_START_MS = Date.UTC(2030, 0, 1);

/**
 * Turns fake time on: `Date.now()` is `FAKE_START_MS`, `performance.now()`
 * is 0, and timers fire only on `tick()`.
 */
export function useFakeTime(): FakeTime {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: FAKE_START_MS });
  Object.defineProperty(performance, "now", {
    value: () => Date.now() - FAKE_START_MS,
    configurable: true,
    writable: true,
  });
  return {
    tick(ms) {
      mock.timers.tick(ms);
    },
    async tickAsync(ms) {
      mock.timers.tick(ms);
      await nextTurn();
    },
    [Symbol.dispose]() {
      // The own property shadows Performance.prototype.now; removing it
      // brings the real one back.
      delete (performance as { now?: unknown }).now;
      mock.timers.reset();
    },
  };
}

/**
 * Resolves on the next turn of the event loop (after every pending promise
 * callback); `setImmediate` is not faked.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Whether `promise` has settled by the next turn of the event loop. */
export async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  await nextTurn();
  return settled;
}

/**
 * Runs `fn`, then a few turns of the event loop, and returns the reasons
 * of the promise rejections left unhandled meanwhile.
 */
export async function unhandledRejections(
  fn: () => Promise<void> | void,
): Promise<unknown[]> {
  const reasons: unknown[] = [];
  const listener = (event: PromiseRejectionEvent) => {
    reasons.push(event.reason);
    event.preventDefault();
  };
  globalThis.addEventListener("unhandledrejection", listener);
  try {
    await fn();
    for (let i = 0; i < 3; i++) await nextTurn();
  } finally {
    globalThis.removeEventListener("unhandledrejection", listener);
  }
  return reasons;
}
