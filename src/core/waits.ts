/**
 * Cancelable waits, of any length.
 *
 * @module
 */

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** The longest delay `setTimeout` honours; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `fn` once `ms` have passed, however long that is: a delay over
 * `setTimeout`'s limit (2^31 - 1 ms, about 24.8 days) is waited in steps
 * of at most that, where a bare `setTimeout` would fire after about 1 ms.
 *
 * @returns A function that cancels the call (harmless once it happened).
 */
export function setLongTimeout(fn: () => void, ms: number): () => void {
  const endAt = performance.now() + ms;
  let timer: ReturnType<typeof setTimeout>;
  const arm = (leftMs: number) => {
    timer = setTimeout(() => {
      const nowLeftMs = endAt - performance.now();
      if (nowLeftMs > 0 && leftMs > MAX_TIMER_MS) arm(nowLeftMs);
      else fn();
    }, Math.min(Math.max(leftMs, 0), MAX_TIMER_MS));
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/**
 * Settles like `promise`, or rejects with `signal.reason` once aborted. A
 * rejection of `promise` that comes after is swallowed.
 */
export function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}
