/**
 * Cancelable waits: every timed wait of the engine is one of these, so that
 * each ends when its signal aborts and leaves no timer behind.
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** The longest delay `setTimeout` honours; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Resolves at the next turn of the event loop, after pending I/O
 * (`setImmediate`; a timer of 0 ms waits 1 ms at the earliest).
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Resolves after `ms` (however long: see `setLongTimeout`), or at once
 * when `signal` aborts (never rejects).
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return wakeableDelay(ms, signal).promise;
}

/**
 * A delay (as {@linkcode delay}, `signal` not yet aborted) that `wake()`
 * ends early; `onEnd` is called as it ends, before its promise resolves.
 * No `AbortController` of its own: an idle loop waits many times, and
 * aborting one builds a `DOMException` each time.
 */
function wakeableDelay(
  ms: number,
  signal: AbortSignal | undefined,
  onEnd: () => void = () => {},
): { promise: Promise<void>; wake: () => void } {
  let wake!: () => void;
  const promise = new Promise<void>((resolve) => {
    const done = () => {
      cancel();
      unlisten();
      onEnd();
      resolve();
    };
    const cancel = setLongTimeout(done, ms);
    const unlisten = signal === undefined ? () => {} : onAbort(signal, done);
    wake = done;
  });
  return { promise, wake };
}

/**
 * A delay that other code can cut short: `wait()` resolves after its time,
 * when its signal aborts, or on `wake()`. A `wake()` while nobody waits
 * makes the next `wait()` resolve at once, so that no wake-up is lost.
 */
export class Wakeup {
  #pending = false;
  #wake: (() => void) | null = null;

  /** Ends the wait under way, or else the next one at once. */
  wake(): void {
    if (this.#wake !== null) this.#wake();
    else this.#pending = true;
  }

  /** Whether a `wait()` is under way. */
  get isWaiting(): boolean {
    return this.#wake !== null;
  }

  /** Resolves after `ms`, on `wake()`, or when `signal` aborts. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#pending || signal?.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    const { promise, wake } = wakeableDelay(ms, signal, () => {
      if (this.#wake === wake) this.#wake = null;
    });
    this.#wake = wake;
    return promise;
  }
}

/**
 * Makes `controller` abort with `signal`'s reason when `signal` aborts,
 * until `unfollow()` is called. Unlike `AbortSignal.any()`, the link can be
 * cut: a step that has settled never sees its run abort afterwards.
 */
export function follow(
  signal: AbortSignal,
  controller: AbortController,
): { unfollow: () => void } {
  return { unfollow: onAbort(signal, () => controller.abort(signal.reason)) };
}

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
 * rejection of `promise` that comes after is swallowed. `onEnd` is called
 * once, as the race is decided (before the returned promise settles).
 */
export function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  onEnd: () => void = () => {},
): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    onEnd();
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    let ended = false;
    const end = () => {
      if (ended) return false;
      ended = true;
      stop();
      onEnd();
      return true;
    };
    const stop = onAbort(signal, () => {
      if (end()) reject(signal.reason);
    });
    promise.then((value) => {
      if (end()) resolve(value);
    }, (error) => {
      if (end()) reject(error);
    });
  });
}

/** The callbacks of each signal that `onAbort()` listens to. */
const abortCallbacks = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `fn` once when `signal` aborts (at once if it has), until the
 * returned function is called. A signal gets one listener, however many
 * callbacks wait on it (adding a listener to an `EventTarget` costs time
 * in proportion to those it has, and a hundred thousand `result()` calls
 * may share one signal), and keeps it for its life: a run's steps come
 * and go one by one on its signal, and adding and removing the listener
 * with each cost more than the step's own work.
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => {};
  }
  const callbacks = callbacksOf(signal);
  // A callback of its own: the same `fn` may wait twice.
  const callback = () => fn();
  callbacks.add(callback);
  return () => {
    callbacks.delete(callback);
  };
}

/** The callbacks waiting on `signal`, with its one listener set up. */
function callbacksOf(signal: AbortSignal): Set<() => void> {
  const known = abortCallbacks.get(signal);
  if (known !== undefined) return known;
  const callbacks = new Set<() => void>();
  abortCallbacks.set(signal, callbacks);
  signal.addEventListener("abort", () => {
    abortCallbacks.delete(signal);
    for (const callback of callbacks) callback();
    callbacks.clear();
  }, { once: true });
  return callbacks;
}

/**
 * Settles like `promise`, or rejects with `timedOut()` once `ms` have
 * passed first (a later rejection of `promise` is swallowed). For calls
 * that must not hold their callers for good when the other side never
 * answers.
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  timedOut: () => unknown,
): Promise<T> {
  const controller = new AbortController();
  const cancel = setLongTimeout(
    () => controller.abort(timedOut()),
    Math.max(0, ms),
  );
  return raceAbort(promise, controller.signal, cancel);
}
