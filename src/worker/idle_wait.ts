/**
 * How an idle worker waits: for the poll interval, never past the next
 * time a run is known to become due, and no longer once something wakes
 * it.
 *
 * @module
 */

import type { Backend } from "../core/backend.ts";
import { Wakeup } from "../core/waits.ts";
import { isListening } from "../core/wakeups.ts";

/** How many future due times a worker remembers. */
const MAX_DUE_TIMES = 1024;

/** The idle waits of one worker's claim loop, and what cuts them short. */
export class IdleWait {
  readonly #backend: Backend;
  readonly #pollIntervalMs: number;
  readonly #fallbackPollIntervalMs: number;
  /** Wakes the idle loop; remembered when the loop is busy. */
  readonly #wakeup = new Wakeup();
  #sleepEndsAt = -Infinity;
  /** When runs are known to become claimable (epoch ms, ascending). */
  readonly #dueTimes: number[] = [];

  /**
   * @param backend The worker's backend.
   * @param pollIntervalMs How often to look for work without wake-ups.
   * @param fallbackPollIntervalMs How often to look for work while the
   * backend's notifications are live.
   */
  constructor(
    backend: Backend,
    pollIntervalMs: number,
    fallbackPollIntervalMs: number,
  ) {
    this.#backend = backend;
    this.#pollIntervalMs = pollIntervalMs;
    this.#fallbackPollIntervalMs = fallbackPollIntervalMs;
  }

  /** Ends the current wait, or the next one at once when none is on. */
  wake(): void {
    this.#wakeup.wake();
  }

  /**
   * How long an idle worker waits: the poll interval, or the slower
   * fallback interval while the backend's notifications are live; never
   * past the next time a run is known to become due.
   */
  idleWaitMs(): number {
    let pollMs = isListening(this.#backend)
      ? Math.max(this.#pollIntervalMs, this.#fallbackPollIntervalMs)
      : this.#pollIntervalMs;
    const now = Date.now();
    while (this.#dueTimes.length > 0 && this.#dueTimes[0] <= now) {
      this.#dueTimes.shift();
      // A run just came due: should the claim have been a moment early
      // for the database's clock, look again soon.
      pollMs = this.#pollIntervalMs;
    }
    const nextDue = this.#dueTimes[0];
    return nextDue === undefined ? pollMs : Math.min(pollMs, nextDue - now + 2);
  }

  /** Remembers when a run becomes claimable, to wake exactly then. */
  addDueTime(atMs: number): void {
    const due = this.#dueTimes;
    let index = due.length;
    while (index > 0 && due[index - 1] > atMs) index--;
    if (due[index - 1] === atMs) return;
    due.splice(index, 0, atMs);
    if (due.length > MAX_DUE_TIMES) due.pop(); // the fallback poll covers the rest
    if (atMs < this.#sleepEndsAt) this.#wakeup.wake();
  }

  /** Waits `ms`, or until woken or stopped. */
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    this.#sleepEndsAt = Date.now() + ms;
    return this.#wakeup.wait(ms, signal).finally(() =>
      this.#sleepEndsAt = -Infinity
    );
  }
}
