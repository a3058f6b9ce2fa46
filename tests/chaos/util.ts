/** Small helpers of the chaos harness. */

/** A seeded pseudo-random generator (mulberry32): numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

/** A number in [min, max) drawn from `random`. */
export function between(
  random: () => number,
  [min, max]: readonly [number, number],
): number {
  return min + random() * (max - min);
}

/** Resolves after `ms`, or at once when `signal` aborts. Never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Calls `fn` until it succeeds, waiting `intervalMs` between tries, for at
 * most `limitMs` (for the harness's own reads while the database restarts).
 */
export async function retrying<T>(
  fn: () => Promise<T>,
  limitMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const startedAt = performance.now();
  while (true) {
    try {
      return await fn();
    } catch (error) {
      if (performance.now() - startedAt > limitMs) throw error;
      await sleep(intervalMs);
    }
  }
}

/** Summary statistics of durations. */
export interface DurationStats {
  /** How many durations. */
  count: number;
  /** The largest, in milliseconds (0 when none). */
  maxMs: number;
  /** The mean, in milliseconds (0 when none). */
  meanMs: number;
}

/** Summarizes `values` (milliseconds). */
export function stats(values: readonly number[]): DurationStats {
  if (values.length === 0) return { count: 0, maxMs: 0, meanMs: 0 };
  return {
    count: values.length,
    maxMs: Math.round(Math.max(...values)),
    meanMs: Math.round(values.reduce((a, b) => a + b, 0) / values.length),
  };
}
