/**
 * How long a Postgres connection waits before it reconnects.
 *
 * @module
 */

import { type Backoff, backoffMs } from "../core/backoff.ts";

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
  return backoffMs(failures, RECONNECT_BACKOFF) / 1000;
}

/** 50 ms, doubling up to 1 s, each spread by half either way. */
export const RECONNECT_BACKOFF: Backoff = {
  initialMs: 50,
  maxMs: 1_000,
  jitter: 0.5,
};
