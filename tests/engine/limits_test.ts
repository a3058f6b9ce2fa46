/**
 * Long timeouts: a step timeout or a run deadline past `setTimeout`'s limit
 * (about 24.8 days) is honoured, where a bare timer would fire at once.
 */

import assert from "node:assert/strict";
import { OpenWorkflow } from "../../mod.ts";
import { setLongTimeout } from "../../src/pause.ts";
import { delay, testEachBackend } from "../helpers.ts";

testEachBackend(
  "a step timeout over setTimeout's limit does not fire early",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let aborted = false;
    const wf = ow.defineWorkflow({ name: "long-timeout" }, async ({ step }) => {
      return await step.run(
        { name: "patient", timeoutMs: 3e9, retry: { maxAttempts: 1 } },
        async ({ signal }) => {
          signal.addEventListener("abort", () => aborted = true);
          await delay(100); // an overflowing timer fires after about 1 ms
          return "finished in time";
        },
      );
    });
    const handle = await wf.run(undefined, {
      deadlineAt: new Date(Date.now() + 30 * 86_400_000),
    });
    assert.equal(await ow.newWorker().tick(), 1);
    assert.equal(await handle.result(), "finished in time");
    assert.equal(aborted, false);
  },
);

/**
 * Runs `fn` with a fake clock: `setTimeout`, `clearTimeout` and
 * `performance.now()` answer to `advance(ms)`, which fires the timers due.
 */
function withFakeClock(
  fn: (clock: { advance(ms: number): void; delays: number[] }) => void,
): void {
  const real = {
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
    now: performance.now,
  };
  let now = 0;
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const delays: number[] = [];
  const fake = ((callback: () => void, ms = 0) => {
    // What a real timer does with a delay over its limit: fire at once.
    const delayMs = ms > 2 ** 31 - 1 ? 1 : Math.max(ms, 0);
    delays.push(ms);
    timers.set(nextId, { at: now + delayMs, fn: callback });
    return nextId++;
  }) as unknown as typeof setTimeout;
  globalThis.setTimeout = fake;
  globalThis.clearTimeout = ((id: number) => {
    timers.delete(id);
  }) as typeof clearTimeout;
  performance.now = () => now;
  try {
    fn({
      delays,
      advance(ms: number) {
        const end = now + ms;
        while (true) {
          const due = [...timers].filter(([, t]) => t.at <= end)
            .sort(([, a], [, b]) => a.at - b.at)[0];
          if (due === undefined) break;
          timers.delete(due[0]);
          now = due[1].at;
          due[1].fn();
        }
        now = end;
      },
    });
  } finally {
    globalThis.setTimeout = real.setTimeout;
    globalThis.clearTimeout = real.clearTimeout;
    performance.now = real.now;
  }
}

Deno.test("setLongTimeout() waits past setTimeout's limit, in steps, and cancels", () => {
  const days = 86_400_000;
  withFakeClock((clock) => {
    let fired = 0;
    setLongTimeout(() => fired++, 30 * days);
    clock.advance(1);
    assert.equal(fired, 0, "fired at once, as an overflowing timer does");
    clock.advance(29 * days);
    assert.equal(fired, 0, "fired before 30 days");
    clock.advance(1 * days);
    assert.equal(fired, 1);
    assert.ok(clock.delays.every((ms) => ms <= 2 ** 31 - 1), `${clock.delays}`);

    const cancel = setLongTimeout(() => fired++, 60 * days);
    clock.advance(40 * days); // into the second step
    cancel();
    clock.advance(30 * days);
    assert.equal(fired, 1, "fired after cancel()");

    setLongTimeout(() => fired++, 5);
    clock.advance(5);
    assert.equal(fired, 2, "a short timeout fires on time");
  });
});
