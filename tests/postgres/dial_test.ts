/**
 * The waits between connection attempts while a server hangs up before
 * answering.
 */

import assert from "node:assert/strict";
import { HANG_UP_BACKOFF, hangUpWaitMs } from "../../src/postgres/dial.ts";

Deno.test("hangUpWaitMs() is zero before any hang-up", () => {
  assert.equal(hangUpWaitMs(0, 0.5), 0);
});

Deno.test("hangUpWaitMs() doubles with each hang-up in a row, up to the cap", () => {
  const first = HANG_UP_BACKOFF.initialMs;
  assert.deepEqual(
    Array.from({ length: 9 }, (_, i) => hangUpWaitMs(i + 1, 0.5)),
    [1, 2, 4, 8, 16, 32].map((n) => first * n).concat(
      Array(3).fill(HANG_UP_BACKOFF.maxMs),
    ),
  );
});

Deno.test("hangUpWaitMs() spreads each wait by half either way", () => {
  const first = HANG_UP_BACKOFF.initialMs;
  assert.equal(hangUpWaitMs(3, 0), first * 2);
  assert.equal(hangUpWaitMs(3, 0.999999) > first * 5.99, true);
});
