/**
 * The waits between connection attempts while a server hangs up before
 * answering (src/postgres/dial.ts).
 */

import assert from "node:assert/strict";
import {
  backoffMs,
  HANG_UP_BACKOFF_MAX_MS,
  HANG_UP_BACKOFF_MIN_MS,
} from "../src/postgres/dial.ts";

Deno.test("backoffMs() is zero before any hang-up", () => {
  assert.equal(backoffMs(0, 0.5), 0);
});

Deno.test("backoffMs() doubles with each hang-up in a row, up to the cap", () => {
  const ceilings = [1, 2, 3, 4, 5, 6, 7, 50, 10_000].map((n) =>
    backoffMs(n, 1)
  );
  assert.deepEqual(ceilings, [
    HANG_UP_BACKOFF_MIN_MS,
    HANG_UP_BACKOFF_MIN_MS * 2,
    HANG_UP_BACKOFF_MIN_MS * 4,
    HANG_UP_BACKOFF_MIN_MS * 8,
    HANG_UP_BACKOFF_MIN_MS * 16,
    HANG_UP_BACKOFF_MIN_MS * 32,
    HANG_UP_BACKOFF_MAX_MS,
    HANG_UP_BACKOFF_MAX_MS,
    HANG_UP_BACKOFF_MAX_MS,
  ]);
});

Deno.test("backoffMs() waits a random half to all of the ceiling", () => {
  assert.equal(backoffMs(3, 0), HANG_UP_BACKOFF_MIN_MS * 2);
  assert.equal(backoffMs(3, 0.5), HANG_UP_BACKOFF_MIN_MS * 3);
});
