/**
 * The time-skipping test environment: an in-memory SQLite backend whose
 * clock is virtual, an `OpenWorkflow` client on it, and `advance()`, which
 * moves the clock through every durable timer that falls due (sleeps,
 * retries, `availableAt`, deadlines, signal and child timeouts, schedule
 * slots), in order, letting the engine's own workers run what each one
 * makes due. Nothing of the engine is replaced: the backend compares every
 * time with its clock, as it compares with the database's in production.
 *
 * @module
 */

import { OpenWorkflow } from "../client/client.ts";
import type { OpenWorkflowOptions } from "../client/client.ts";
import { type Duration, MAX_TIME_MS, parseDuration } from "../core/duration.ts";
import { checkOptions, received } from "../core/validate.ts";
import { notifyClockMoved } from "../core/wakeups.ts";
import type { Worker, WorkerOptions } from "../worker/worker.ts";
import { BackendSqlite, type Clock } from "../sqlite/backend.ts";
import { type Activity, readActivity } from "../sqlite/activity.ts";

/**
 * How often the environment reads the engine's activity while it waits for
 * the engine to be idle.
 */
const ACTIVITY_POLL_MS = 2;

/**
 * How long work may stay due with no run executing and nothing written
 * before the environment counts it as work no worker takes (no worker
 * serves its workflow, the workers are stopped, or a concurrency or rate
 * limit holds it back) and the engine as idle.
 */
const UNTAKEN_AFTER_MS = 200;

/**
 * Options of {@linkcode createTestEnvironment}.
 *
 * @example
 * ```ts
 * import type { TestEnvironmentOptions } from "@openworkflow/core/testing";
 *
 * const options: TestEnvironmentOptions = { now: new Date("2030-01-01T00:00:00Z") };
 * console.log(options.now?.toISOString()); // 2030-01-01T00:00:00.000Z
 * ```
 */
export interface TestEnvironmentOptions {
  /**
   * The virtual clock's time at the start.
   * @default {new Date()}
   */
  now?: Date;
  /**
   * The namespace of the environment's runs.
   * @default {DEFAULT_NAMESPACE_ID}
   */
  namespaceId?: string;
  /**
   * The SQLite database: `":memory:"`, or a file path to look at the runs
   * afterwards (a file that other processes do not use: they would not
   * share the virtual clock).
   * @default {":memory:"}
   */
  path?: string;
  /** Options of the environment's `OpenWorkflow` client (not its backend). */
  client?: Omit<OpenWorkflowOptions, "backend">;
}

/** A clock that runs with the machine's and jumps forward on request. */
class VirtualClock implements Clock {
  #offsetMs: number;

  constructor(startMs: number) {
    this.#offsetMs = startMs - Date.now();
  }

  now(): number {
    return Date.now() + this.#offsetMs;
  }

  /** Moves the clock to `ms`, unless it reads a later time already. */
  moveTo(ms: number): void {
    const now = this.now();
    if (ms > now) this.#offsetMs += ms - now;
  }
}

/** Makes a `TestEnvironment` (its constructor is private). */
let construct: (
  clock: VirtualClock,
  backend: BackendSqlite,
  ow: TestClient,
) => TestEnvironment;

/** The client of a test environment: it stops its workers on disposal. */
class TestClient extends OpenWorkflow {
  readonly workers = new Set<Worker>();

  override newWorker(
    options?: Omit<WorkerOptions, "backend" | "workflows">,
  ): Worker {
    const worker = super.newWorker(options);
    this.workers.add(worker);
    return worker;
  }
}

/**
 * A time-skipping test environment, made by
 * {@linkcode createTestEnvironment}: workflows defined on `ow` and run by
 * its workers follow the virtual clock, which moves only forward, with the
 * machine's time and by `advance()`.
 *
 * What it skips: every durable timer, because the backend decides with its
 * clock when a run is due: `step.sleep()` and `step.sleepUntil()`, step
 * and workflow retry backoff, a run's `availableAt`, deadlines (a run past
 * its deadline fails, with its compensations, as in production), the
 * timeouts of signal waits and child workflows, schedules (each cron slot
 * the clock passes fires, or only the latest with `catchUp: false`), and
 * leases. What it cannot skip: time measured in the process by the machine's
 * clock, which is real work or real waiting: a step function's own run time
 * and its `timeout`, `result({ timeoutMs })`, and the engine's own timers
 * (heartbeats, polls). `advance()` waits for executing runs to reach their
 * next durable wait before it moves the clock, so a step that never returns
 * holds it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTestEnvironment } from "@openworkflow/core/testing";
 *
 * await using env = await createTestEnvironment();
 * const trial = env.ow.defineWorkflow({ name: "trial" }, async ({ step }) => {
 *   await step.sleep("trial-period", "30d");
 *   return await step.run({ name: "charge" }, () => "charged");
 * });
 * await env.ow.newWorker().start();
 * const handle = await trial.run();
 * const started = env.now().getTime();
 * await env.advance("30d");
 * assert.equal(await handle.result(), "charged");
 * assert.ok(env.now().getTime() - started >= 30 * 86_400_000);
 * ```
 */
export class TestEnvironment implements AsyncDisposable {
  readonly #clock: VirtualClock;
  readonly #backend: BackendSqlite;
  readonly #ow: TestClient;
  /** The advances in order: each starts once the previous one ended. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    clock: VirtualClock,
    backend: BackendSqlite,
    ow: TestClient,
  ) {
    this.#clock = clock;
    this.#backend = backend;
    this.#ow = ow;
  }

  static {
    construct = (clock, backend, ow) => new TestEnvironment(clock, backend, ow);
  }

  /**
   * The client: define workflows, start runs and create workers with it,
   * as with any `OpenWorkflow`. Its workers are stopped with the
   * environment.
   *
   * @example
   * ```ts
   * import { createTestEnvironment } from "@openworkflow/core/testing";
   *
   * await using env = await createTestEnvironment();
   * const hello = env.ow.defineWorkflow({ name: "hello" }, () => "hi");
   * console.log(hello.name); // hello
   * ```
   */
  get ow(): OpenWorkflow {
    return this.#ow;
  }

  /**
   * The environment's backend (SQLite, on the virtual clock): to inspect
   * runs and steps, or to build a second client on the same runs.
   *
   * @example
   * ```ts
   * import { createTestEnvironment } from "@openworkflow/core/testing";
   *
   * await using env = await createTestEnvironment();
   * console.log((await env.backend.now()).getTime() === env.now().getTime()); // true
   * ```
   */
  get backend(): BackendSqlite {
    return this.#backend;
  }

  /**
   * The virtual time: it runs with the machine's clock, and jumps forward
   * with `advance()`.
   *
   * @returns The environment's current time.
   *
   * @example
   * ```ts
   * import { createTestEnvironment } from "@openworkflow/core/testing";
   *
   * const start = new Date("2030-01-01T00:00:00Z");
   * await using env = await createTestEnvironment({ now: start });
   * await env.advance("1h");
   * console.log(env.now().getTime() - start.getTime() >= 3_600_000); // true
   * ```
   */
  now(): Date {
    return new Date(this.#clock.now());
  }

  /**
   * Moves the clock forward by `duration`, through each time something
   * falls due on the way, in order: at each, once the engine is idle (no
   * run executing, nothing due that a worker takes), the clock jumps to the
   * next due time, and the workers run what it made due. Resolves once the
   * clock has moved by `duration` and the engine is idle again. Calls made
   * while one is in progress run after it.
   *
   * @param duration How far to move: milliseconds, or a duration string
   * such as `"30d"` or `"1.5h"`.
   * @returns A promise that resolves once the engine is idle at the new time.
   * @throws {TypeError} for a duration that is not a number or a duration
   * string.
   * @throws {RangeError} for a negative or too long duration.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createTestEnvironment } from "@openworkflow/core/testing";
   *
   * await using env = await createTestEnvironment();
   * const reminder = env.ow.defineWorkflow({ name: "reminder" }, async ({ step }) => {
   *   await step.sleep("wait", "1h");
   *   return "reminded";
   * });
   * await env.ow.newWorker().start();
   * const handle = await reminder.run();
   * await env.advance("59m");
   * assert.equal((await handle.refresh()).status, "sleeping");
   * await env.advance("1m");
   * assert.equal(await handle.result(), "reminded");
   * ```
   */
  advance(duration: Duration): Promise<void> {
    let ms: number;
    try {
      ms = parseDuration(duration, "advance the clock");
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#enqueue(() => this.#advanceTo(this.#clock.now() + ms));
  }

  /**
   * Moves the clock forward to `time`, as {@linkcode advance} does (a time
   * already past only waits for the engine to be idle).
   *
   * @param time The time to move to.
   * @returns A promise that resolves once the engine is idle at `time`.
   * @throws {TypeError} for something that is not a valid `Date`.
   *
   * @example
   * ```ts
   * import { createTestEnvironment } from "@openworkflow/core/testing";
   *
   * await using env = await createTestEnvironment({ now: new Date("2030-01-01T00:00:00Z") });
   * await env.advanceTo(new Date("2030-02-01T00:00:00Z"));
   * console.log(env.now() >= new Date("2030-02-01T00:00:00Z")); // true
   * ```
   */
  advanceTo(time: Date): Promise<void> {
    if (!(time instanceof Date) || Number.isNaN(time.getTime())) {
      return Promise.reject(
        new TypeError(
          `Cannot advance the clock: 'time' must be a valid Date, received ${
            received(time)
          }`,
        ),
      );
    }
    return this.#enqueue(() =>
      this.#advanceTo(Math.min(time.getTime(), MAX_TIME_MS))
    );
  }

  /**
   * Waits, without moving the clock, until the engine is idle: no run
   * executing, and nothing due now that a worker takes.
   *
   * @returns A promise that resolves once the engine is idle.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createTestEnvironment } from "@openworkflow/core/testing";
   *
   * await using env = await createTestEnvironment();
   * const wf = env.ow.defineWorkflow({ name: "two-steps" }, async ({ step }) => {
   *   await step.run({ name: "a" }, () => 1);
   *   await step.sleep("pause", "1d");
   * });
   * await env.ow.newWorker().start();
   * const handle = await wf.run();
   * await env.idle();
   * assert.equal((await handle.refresh()).status, "sleeping");
   * ```
   */
  idle(): Promise<void> {
    return this.#enqueue(() => this.#settle());
  }

  /**
   * Stops the workers created by `ow.newWorker()` and closes the backend.
   * Calling it again is harmless.
   *
   * @returns A promise that resolves once everything is stopped.
   *
   * @example
   * ```ts
   * import { createTestEnvironment } from "@openworkflow/core/testing";
   *
   * const env = await createTestEnvironment();
   * await env.stop();
   * ```
   */
  async stop(): Promise<void> {
    await Promise.all([...this.#ow.workers].map((worker) => worker.stop()));
    await this.#backend.stop();
  }

  /**
   * Same as {@linkcode TestEnvironment.stop}, for `await using`.
   *
   * @returns A promise that resolves once everything is stopped.
   *
   * @example
   * ```ts
   * import { createTestEnvironment } from "@openworkflow/core/testing";
   *
   * {
   *   await using env = await createTestEnvironment();
   *   console.log(env.backend.path); // :memory:
   * } // stopped here
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(task);
    this.#queue = next.catch(() => {});
    return next;
  }

  async #advanceTo(targetMs: number): Promise<void> {
    await this.#settle();
    for (;;) {
      const { nextDueAt } = await this.#activity();
      if (nextDueAt === null || nextDueAt > targetMs) break;
      this.#move(nextDueAt);
      await this.#settle();
    }
    this.#move(targetMs);
    await this.#settle();
  }

  #move(ms: number): void {
    this.#clock.moveTo(ms);
    notifyClockMoved(this.#backend);
  }

  #activity(): Promise<Activity> {
    return readActivity(this.#backend)!;
  }

  /**
   * Resolves once no run is executing and nothing is due, or what is due
   * has stayed untaken, with nothing written, for `UNTAKEN_AFTER_MS`.
   */
  async #settle(): Promise<void> {
    let changes = -1;
    let quietSince = performance.now();
    for (;;) {
      const activity = await this.#activity();
      if (activity.running === 0 && activity.due === 0) return;
      if (activity.changes !== changes) {
        changes = activity.changes;
        quietSince = performance.now();
      } else if (
        activity.running === 0 &&
        performance.now() - quietSince >= UNTAKEN_AFTER_MS
      ) return;
      await new Promise((resolve) => setTimeout(resolve, ACTIVITY_POLL_MS));
    }
  }
}

/**
 * Creates a time-skipping test environment: an in-memory SQLite backend
 * on a virtual clock, and an `OpenWorkflow` client on it. Works under any
 * test runner on Deno, Node (22.13 or later, for `node:sqlite`) and Bun.
 *
 * @param options The start time, namespace, database path and client
 * options.
 * @returns The environment; dispose of it (`await using`, or `stop()`).
 * @throws {TypeError} for options that are not an object, or a `now` that
 * is not a valid `Date`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTestEnvironment } from "@openworkflow/core/testing";
 *
 * await using env = await createTestEnvironment();
 * const trial = env.ow.defineWorkflow({ name: "trial" }, async ({ step }) => {
 *   await step.sleep("trial-period", "30d");
 *   return await step.run({ name: "charge" }, () => "charged");
 * });
 * await env.ow.newWorker().start();
 * const handle = await trial.run();
 * await env.advance("30d");
 * assert.equal(await handle.result(), "charged");
 * ```
 */
export async function createTestEnvironment(
  options?: TestEnvironmentOptions,
): Promise<TestEnvironment> {
  const what = "create test environment";
  options = checkOptions(options, what);
  const start = options.now ?? new Date();
  if (!(start instanceof Date) || Number.isNaN(start.getTime())) {
    throw new TypeError(
      `Cannot ${what}: 'now' must be a valid Date, received ${
        received(options.now)
      }`,
    );
  }
  const clock = new VirtualClock(start.getTime());
  const backend = await BackendSqlite.connect(options.path ?? ":memory:", {
    namespaceId: options.namespaceId,
    clock,
  });
  try {
    const ow = new TestClient({ ...options.client, backend });
    return construct(clock, backend, ow);
  } catch (error) {
    await backend.stop();
    throw error;
  }
}
