import assert from "node:assert/strict";
import { type Backoff, backoffMs } from "../../../src/core/backoff.ts";

const NO_JITTER: Backoff = { initialMs: 100, maxMs: 10_000 };

Deno.test("backoffMs() doubles up to maxMs", () => {
  const waits = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((retry) =>
    backoffMs(retry, NO_JITTER, 0.5)
  );
  assert.deepEqual(
    waits,
    [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000],
  );
});

Deno.test("backoffMs() grows by the given factor", () => {
  const backoff: Backoff = { initialMs: 10, maxMs: 1e9, factor: 3 };
  assert.deepEqual(
    [0, 1, 2, 3].map((retry) => backoffMs(retry, backoff, 0.5)),
    [10, 30, 90, 270],
  );
  const flat: Backoff = { initialMs: 250, maxMs: 1e9, factor: 1 };
  assert.equal(backoffMs(40, flat, 0.5), 250);
});

Deno.test("backoffMs() takes a negative retry number as the first retry", () => {
  assert.equal(backoffMs(-1, NO_JITTER, 0.5), 100);
  assert.equal(backoffMs(-Infinity, NO_JITTER, 0.5), 100);
});

Deno.test("backoffMs() spreads the wait by jitter either way", () => {
  const backoff: Backoff = { initialMs: 1000, maxMs: 60_000, jitter: 0.2 };
  assert.equal(backoffMs(0, backoff, 0), 800);
  assert.equal(backoffMs(0, backoff, 0.5), 1000);
  assert.equal(backoffMs(0, backoff, 0.25), 900);
  const top = backoffMs(0, backoff, 0.999);
  assert.ok(top > 1199 && top < 1200, `${top}`);
});

Deno.test("backoffMs() spreads the capped wait, so jitter may exceed maxMs", () => {
  const backoff: Backoff = { initialMs: 1000, maxMs: 5000, jitter: 0.5 };
  assert.equal(backoffMs(10, backoff, 0), 2500);
  assert.equal(backoffMs(10, backoff, 0.5), 5000);
  assert.ok(backoffMs(10, backoff, 0.999) > 7490);
});

Deno.test("backoffMs() defaults to no jitter and a factor of 2", () => {
  const backoff: Backoff = { initialMs: 50, maxMs: 1000 };
  assert.equal(backoffMs(2, backoff, 0), 200);
  assert.equal(backoffMs(2, backoff, 0.99), 200);
});

Deno.test("backoffMs() with initialMs 0 is always 0", () => {
  const backoffs: Backoff[] = [
    { initialMs: 0, maxMs: 1000, jitter: 1 },
    // 10^1000 is Infinity, and 0 × Infinity would be NaN.
    { initialMs: 0, maxMs: 1000, factor: 10 },
  ];
  for (const backoff of backoffs) {
    for (const retry of [0, 1, 100, 1000, 1e6, Infinity]) {
      assert.equal(backoffMs(retry, backoff, 0.9), 0);
    }
  }
});

Deno.test("backoffMs() of a huge retry number is maxMs, never Infinity or NaN", () => {
  const backoffs: Backoff[] = [
    { initialMs: 1, maxMs: 30_000 },
    { initialMs: 1000, maxMs: 30_000, factor: 10, jitter: 0.1 },
    { initialMs: 0.001, maxMs: 30_000, factor: 1.5 },
  ];
  for (const backoff of backoffs) {
    for (const retry of [1023, 1024, 5000, 1e9, Number.MAX_SAFE_INTEGER]) {
      const wait = backoffMs(retry, backoff, 0.5);
      assert.ok(Number.isFinite(wait), `${retry}: ${wait}`);
      assert.equal(wait, 30_000);
    }
  }
  assert.equal(backoffMs(Infinity, { initialMs: 5, maxMs: 700 }, 0.5), 700);
});

Deno.test("backoffMs() draws from Math.random() when no random is given", () => {
  const backoff: Backoff = { initialMs: 1000, maxMs: 1000, jitter: 0.5 };
  const waits = new Set<number>();
  for (let i = 0; i < 50; i++) {
    const wait = backoffMs(0, backoff);
    assert.ok(wait >= 500 && wait < 1500, `${wait}`);
    waits.add(wait);
  }
  assert.ok(waits.size > 1);
});
