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
  /** Due times that call for a check of schedules only, not a claim. */
  readonly #checkTimes = new Set<number>();
  /** Whether something since the last claim may have made runs claimable. */
  #claimRequested = true;
  /** When the last claim was made (`performance.now()`). */
  #claimedAt = -Infinity;

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

  /** How often to claim while the backend's notifications are live. */
  get #listeningPollMs(): number {
    return Math.max(this.#pollIntervalMs, this.#fallbackPollIntervalMs);
  }

  /** Ends the current wait, or the next one at once when none is on. */
  wake(): void {
    this.#claimRequested = true;
    this.#wakeup.wake();
  }

  /**
   * A run of this worker ended and freed its slot: wakes the worker only
   * when a claim is owed, that is when the last claim filled every slot
   * (more may wait), or runs were announced while no slot was free; or
   * when the backend announces nothing. Otherwise a claim would find
   * nothing that a notification has not already sent the worker to claim,
   * and it would only compete with the runs in flight for the database
   * (one wasted claim per finished run).
   */
  slotFreed(): void {
    if (this.#claimRequested || !isListening(this.#backend)) this.wake();
  }

  /**
   * Whether this round should claim: always without live notifications;
   * with them, when something woke the worker for runs (a notification, a
   * slot freed, a run's due time), or the fallback interval has passed
   * since the last claim. A round woken only to check schedules claims
   * nothing: a claim would find nothing no notification announced.
   */
  shouldClaim(): boolean {
    if (this.#claimRequested || !isListening(this.#backend)) return true;
    const now = Date.now();
    for (const at of this.#dueTimes) {
      if (at > now) break;
      if (!this.#checkTimes.has(at)) return true;
    }
    return performance.now() - this.#claimedAt >= this.#listeningPollMs;
  }

  /**
   * A claim is being made: what requested one is answered (wake-ups from
   * now on request the next). `moreMayWait` keeps the request, for a claim
   * that filled every slot or failed.
   */
  claiming(moreMayWait = false): void {
    this.#claimRequested = moreMayWait;
    this.#claimedAt = performance.now();
  }

  /**
   * How long an idle worker waits: the poll interval, or the slower
   * fallback interval while the backend's notifications are live; never
   * past the next time a run is known to become due.
   */
  idleWaitMs(): number {
    // Counted from the last claim: rounds woken in between to check
    // schedules do not put the fallback claim off. (None overdue: a round
    // with no free slot claimed nothing, and waits for one.)
    const sinceClaimMs = performance.now() - this.#claimedAt;
    let pollMs = !isListening(this.#backend)
      ? this.#pollIntervalMs
      : sinceClaimMs < this.#listeningPollMs
      ? this.#listeningPollMs - sinceClaimMs
      : this.#listeningPollMs;
    const now = Date.now();
    while (this.#dueTimes.length > 0 && this.#dueTimes[0] <= now) {
      const at = this.#dueTimes.shift()!;
      if (this.#checkTimes.delete(at)) continue;
      // A run just came due: should the claim have been a moment early
      // for the database's clock, look again soon.
      pollMs = this.#pollIntervalMs;
      this.#claimRequested = true;
    }
    const nextDue = this.#dueTimes[0];
    return nextDue === undefined ? pollMs : Math.min(pollMs, nextDue - now + 2);
  }

  /**
   * Remembers when a run becomes claimable, to wake exactly then; with
   * `checkOnly`, when schedules are to be checked (no claim then).
   */
  addDueTime(atMs: number, checkOnly = false): void {
    const due = this.#dueTimes;
    let index = due.length;
    while (index > 0 && due[index - 1] > atMs) index--;
    if (due[index - 1] === atMs) {
      if (!checkOnly) this.#checkTimes.delete(atMs);
      return;
    }
    due.splice(index, 0, atMs);
    if (checkOnly) this.#checkTimes.add(atMs);
    if (due.length > MAX_DUE_TIMES) {
      this.#checkTimes.delete(due.pop()!); // the fallback poll covers the rest
    }
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
