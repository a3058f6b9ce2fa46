/**
 * Recovery times. The recovery time of a fault runs from the moment it is
 * injected (the SIGKILL sent, the connections terminated, the restart
 * begun) until every run that was `running` under the fault's victims at
 * that moment has been written again (claimed by another worker,
 * heartbeated, parked or finished), as seen by polling the database every
 * 25 ms. For a SIGKILL it is how long the killed worker's runs waited for
 * their leases to expire and for another worker to claim them.
 */

import type { FaultKind } from "./report.ts";
import type { ChaosStore, RunMark } from "./store.ts";
import { type DurationStats, sleep, stats } from "./util.ts";

/** Measures recovery times of faults. */
export class RecoveryTracker {
  readonly #store: ChaosStore;
  readonly #trackers: Promise<void>[] = [];
  readonly #times: Record<FaultKind, number[]> = {
    kill: [],
    drop: [],
    restart: [],
  };
  readonly #finished = new AbortController();

  constructor(store: ChaosStore) {
    this.#store = store;
  }

  /** Measures how long until every run in `held` is written again. */
  track(kind: FaultKind, at: number, held: readonly RunMark[]): void {
    if (held.length === 0) return;
    this.#trackers.push((async () => {
      const pending = new Map(held.map((mark) => [mark.id, mark]));
      while (pending.size > 0) {
        // Every run is terminal once the batch is over: a run still
        // pending then means the database cannot be read; give up.
        if (this.#finished.signal.aborted) return;
        let marks: Map<string, RunMark>;
        try {
          marks = await this.#store.marks([...pending.keys()]);
        } catch {
          await sleep(100);
          continue;
        }
        for (const [id, before] of pending) {
          const now = marks.get(id);
          if (
            now === undefined || now.status !== "running" ||
            now.updatedAtMs > before.updatedAtMs ||
            now.workerId !== before.workerId
          ) pending.delete(id);
        }
        if (pending.size > 0) await sleep(25);
      }
      this.#times[kind].push(performance.now() - at);
    })());
  }

  /**
   * Ends the measurements once every run is terminal: each tracker gets a
   * moment to see the last writes, then gives up.
   */
  async finish(): Promise<Record<FaultKind, DurationStats>> {
    const settled = new AbortController();
    await Promise.race([
      Promise.all(this.#trackers),
      sleep(2_000, settled.signal),
    ]);
    settled.abort();
    this.#finished.abort();
    await Promise.all(this.#trackers);
    return {
      kill: stats(this.#times.kill),
      drop: stats(this.#times.drop),
      restart: stats(this.#times.restart),
    };
  }
}
