/**
 * How long a Postgres connection waits before it reconnects.
 *
 * @module
 */

/**
 * The `backoff` option of postgres.js: the seconds a connection of the pool
 * waits before reconnecting, given how many connection attempts of the pool
 * failed since one last succeeded. 50 ms, doubling up to 1 s, with jitter.
 *
 * postgres.js's default, `(0.5 to 1) × min(3^failures / 100, 20)` seconds,
 * reaches 10 to 20 s after 7 failures, and the pool counts them together: 4
 * connections refused during a 1 s server restart get there. A connection
 * fixes its wait when it closes, so a call handed to it after the server is
 * back still waits out those seconds (and calls batched behind it with it),
 * while new calls on other connections succeed.
 *
 * @param failures The pool's failed connection attempts in a row.
 * @returns The wait, in seconds.
 */
export function reconnectBackoffS(failures: number): number {
  return growingWaitMs(failures, 1_000) / 1000;
}

/** The first of the growing waits, before jitter. */
export const FIRST_WAIT_MS = 50;

/**
 * The `step`-th of growing waits (counting from 0): {@linkcode FIRST_WAIT_MS}
 * doubling up to `maxMs`, then a random half to all of it, so that many
 * clients do not come back in step.
 */
export function growingWaitMs(
  step: number,
  maxMs: number,
  random: number = Math.random(),
): number {
  const ceiling = Math.min(maxMs, FIRST_WAIT_MS * 2 ** Math.min(step, 30));
  return ceiling / 2 + random * ceiling / 2;
}
