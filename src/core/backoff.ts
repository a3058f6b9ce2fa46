/**
 * Backoff with jitter: the one formula behind every growing wait of the
 * engine (step and workflow retries, the claim loop after errors, Postgres
 * reconnections and hang-ups, SQLite's busy retries).
 *
 * @module
 */

/** How a wait grows with each retry in a row. */
export interface Backoff {
  /** The wait before the first retry, before jitter. */
  initialMs: number;
  /** The longest wait, before jitter. */
  maxMs: number;
  /**
   * What each wait is multiplied by for the next.
   * @default 2
   */
  factor?: number;
  /**
   * The fraction (0 to 1) by which each wait is randomly spread either way,
   * so that many clients do not come back in step: a wait `w` becomes one
   * between `w × (1 - jitter)` and `w × (1 + jitter)`.
   * @default 0
   */
  jitter?: number;
}

/**
 * The wait before retry number `retry` (0 for the first):
 * `min(initialMs × factor^retry, maxMs)`, spread by `jitter`.
 *
 * @param random a number in [0, 1) that places the wait within the jitter
 * (0.5 is the middle); a caller that needs every process to compute the
 * same wait passes one derived from a shared seed.
 */
export function backoffMs(
  retry: number,
  backoff: Backoff,
  random: number = Math.random(),
): number {
  // No growth from a wait of 0 (0 × Infinity would be NaN).
  if (backoff.initialMs === 0) return 0;
  const ceiling = Math.min(
    backoff.initialMs *
      (backoff.factor ?? 2) ** Math.min(Math.max(0, retry), 1023),
    backoff.maxMs,
  );
  return ceiling * (1 + (backoff.jitter ?? 0) * (random * 2 - 1));
}
