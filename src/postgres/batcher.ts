/**
 * Group commit: calls of one kind that arrive while earlier ones are in
 * flight are sent together as one statement. Calls made in one stretch of
 * synchronous code go together too (an execution's next step and the
 * result of the one before it: one round trip); a lone call goes out at
 * the end of its stretch (a microtask later), so batching adds no latency
 * when the load is light; under load, one statement (one commit) serves
 * many runs.
 *
 * @module
 */

import { withTimeout } from "../core/waits.ts";

interface Pending<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/**
 * Runs `flush` over batches of items. `flush` returns one outcome per item,
 * in order: a result, or an `Error` instance to reject that item's call.
 */
export class Batcher<Item, Result> {
  readonly #flush: (items: Item[]) => Promise<(Result | Error)[]>;
  readonly #maxInFlight: number;
  readonly #maxBatch: number;
  readonly #timeoutMs: number;
  readonly #timeoutError: () => Error;
  #queue: Pending<Item, Result>[] = [];
  #inFlight = 0;
  #pumpQueued = false;

  /**
   * @param flush Sends a batch; returns one outcome per item.
   * @param maxInFlight How many batches may be in flight at once.
   * @param maxBatch The most items in one batch.
   * @param timeoutMs How long a batch may take before its calls reject.
   * @param timeoutError Makes the error they reject with then.
   */
  constructor(
    flush: (items: Item[]) => Promise<(Result | Error)[]>,
    maxInFlight = 2,
    maxBatch = 500,
    timeoutMs = 20_000,
    timeoutError: () => Error = () =>
      new Error(`No answer within ${timeoutMs} ms`),
  ) {
    this.#flush = flush;
    this.#maxInFlight = maxInFlight;
    this.#maxBatch = maxBatch;
    this.#timeoutMs = timeoutMs;
    this.#timeoutError = timeoutError;
  }

  /** Queues `item`; resolves with its outcome. */
  add(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (this.#pumpQueued) return;
      this.#pumpQueued = true;
      queueMicrotask(() => {
        this.#pumpQueued = false;
        this.#pump();
      });
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#inFlight++;
      this.#send(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #send(batch: Pending<Item, Result>[]): Promise<void> {
    let outcomes: (Result | Error)[];
    try {
      // A batch the database never answers (a connection lost in a way the
      // driver does not notice) must not hold its callers, nor the batches
      // queued behind it, for good.
      outcomes = await withTimeout(
        this.#flush(batch.map((p) => p.item)),
        this.#timeoutMs,
        () => this.#timeoutError(),
      );
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    if (!Array.isArray(outcomes) || outcomes.length !== batch.length) {
      // A flush must answer every item: anything else is a bug, reported
      // to every caller rather than leaving one waiting.
      const error = new TypeError(
        `A batch of ${batch.length} got ${
          Array.isArray(outcomes) ? outcomes.length : typeof outcomes
        } outcomes`,
      );
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, i) => {
      const outcome = outcomes[i];
      if (outcome instanceof Error) pending.reject(outcome);
      else pending.resolve(outcome);
    });
  }
}
