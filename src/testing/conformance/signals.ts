/**
 * Conformance: signals, through the optional `sendSignal()` and
 * `receiveSignal()`: what a send stores and which runs it wakes
 * (`Backend`, rule 11), and how each signal reaches the `signal-wait`
 * attempts, exactly once.
 */

import assert from "node:assert/strict";
import type {
  Backend,
  ReceivedSignal,
  SendSignalOutcome,
  SendSignalParams,
  StepAttempt,
  WorkflowRun,
} from "../../core/backend.ts";
import { LeaseLostError } from "../../core/errors.ts";
import type { JsonValue } from "../../core/json.ts";
import { type DefineCase, randomNamespace } from "./define.ts";
import {
  assertNotClaimable,
  claimRun,
  createRun,
  parkRun,
} from "./children.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Sends a signal; `data` and `idempotencyKey` are `null` unless given. */
function send(
  backend: Backend,
  params:
    & Pick<SendSignalParams, "signal" | "workflowRunId">
    & Partial<SendSignalParams>,
): Promise<SendSignalOutcome> {
  assert.ok(backend.sendSignal !== undefined, "sendSignal() is implemented");
  return backend.sendSignal({ data: null, idempotencyKey: null, ...params });
}

/**
 * Makes `run` (held by `workerId`) wait for `signal`: a `running`
 * `signal-wait` attempt, as the engine makes it.
 */
function wait(
  backend: Backend,
  run: WorkflowRun,
  signal: string,
  stepName: string,
  workerId = "w1",
): Promise<StepAttempt> {
  return backend.createStepAttempt({
    workflowRunId: run.id,
    workerId,
    stepName,
    kind: "signal-wait",
    config: { signal, timeoutAt: null },
    context: null,
  });
}

/** Receives the signal the attempt waits for, as `workerId`. */
function receive(
  backend: Backend,
  attempt: StepAttempt,
  workerId = "w1",
): Promise<ReceivedSignal | null> {
  assert.ok(
    backend.receiveSignal !== undefined,
    "receiveSignal() is implemented",
  );
  return backend.receiveSignal({
    workflowRunId: attempt.workflowRunId,
    workerId,
    stepAttemptId: attempt.id,
    signal: (attempt.config as { signal: string }).signal,
  });
}

/** Asserts that a signal with `data` was received; returns its id. */
function assertReceived(
  received: ReceivedSignal | null,
  data: JsonValue | null,
): string {
  assert.ok(received !== null, "a signal was received");
  assert.match(received.signalId, UUID);
  assert.deepEqual(received, { signalId: received.signalId, data });
  return received.signalId;
}

const NOT_WOKEN: SendSignalOutcome = { kind: "sent", workflowRunIds: [] };

/** The ids of the runs a send woke, sorted. */
function woke(outcome: SendSignalOutcome): string[] {
  assert.equal(outcome.kind, "sent");
  return [...(outcome as { workflowRunIds: string[] }).workflowRunIds].sort();
}

export function signalConformance(define: DefineCase): void {
  define(
    "sendSignal() to an unknown run returns run-not-found and stores nothing",
    async ({ backend }) => {
      const run = await createRun(backend, "target");
      for (
        const workflowRunId of [
          crypto.randomUUID(),
          "not-a-uuid",
          "",
          "'; DROP TABLE x; --",
        ]
      ) {
        assert.deepEqual(
          await send(backend, {
            signal: "go",
            data: 1,
            workflowRunId,
            idempotencyKey: "k",
          }),
          { kind: "run-not-found" },
        );
      }
      // Not even the idempotency key was taken.
      assert.deepEqual(
        await send(backend, {
          signal: "go",
          data: 2,
          workflowRunId: run.id,
          idempotencyKey: "k",
        }),
        NOT_WOKEN,
      );
      await claimRun(backend, run);
      assertReceived(
        await receive(backend, await wait(backend, run, "go", "a")),
        2,
      );
      assert.equal(
        await receive(backend, await wait(backend, run, "go", "b")),
        null,
      );
    },
    ["signals"],
  );

  define(
    "sendSignal() to a finished run returns run-finished with its status",
    async ({ backend }) => {
      const succeeded = await createRun(backend, "succeeded");
      await claimRun(backend, succeeded);
      await backend.markWorkflowRunSucceeded({
        workflowRunId: succeeded.id,
        workerId: "w1",
        output: null,
      });
      const failed = await createRun(backend, "failed");
      await claimRun(backend, failed);
      await backend.markWorkflowRunFailed({
        workflowRunId: failed.id,
        workerId: "w1",
        error: { name: "Error", message: "boom" },
      });
      const canceled = await createRun(backend, "canceled");
      await backend.cancelWorkflowRun({
        workflowRunId: canceled.id,
        error: { name: "WorkflowCanceledError", message: "canceled" },
      });
      for (
        const [run, status] of [
          [succeeded, "succeeded"],
          [failed, "failed"],
          [canceled, "canceled"],
        ] as const
      ) {
        assert.deepEqual(
          await send(backend, {
            signal: "go",
            data: 1,
            workflowRunId: run.id,
            idempotencyKey: "k",
          }),
          { kind: "run-finished", status },
        );
      }
      // Not even the idempotency key was taken.
      const live = await createRun(backend, "live");
      assert.deepEqual(
        await send(backend, {
          signal: "go",
          data: 2,
          workflowRunId: live.id,
          idempotencyKey: "k",
        }),
        NOT_WOKEN,
      );
    },
    ["signals"],
  );

  define(
    "an addressed signal sent before the wait is received later, by its run and name only",
    async ({ backend }) => {
      const run = await createRun(backend, "target");
      const other = await createRun(backend, "other");
      assert.deepEqual(
        await send(backend, {
          signal: "go",
          data: { ok: true },
          workflowRunId: run.id,
        }),
        NOT_WOKEN,
      );
      await claimRun(backend, run, "w1");
      await claimRun(backend, other, "w2");
      assert.equal(
        await receive(
          backend,
          await wait(backend, other, "go", "a", "w2"),
          "w2",
        ),
        null,
      );
      assert.equal(
        await receive(backend, await wait(backend, run, "stop", "a")),
        null,
      );
      assertReceived(
        await receive(backend, await wait(backend, run, "go", "b")),
        { ok: true },
      );
    },
    ["signals"],
  );

  define(
    "receiveSignal() delivers the oldest signal first, each exactly once",
    async ({ backend }) => {
      const run = await createRun(backend, "target");
      const sends: [string, string | null, JsonValue][] = [
        ["go", run.id, "first"],
        ["other", run.id, "other name"],
        ["go", null, "second, broadcast"],
        ["go", run.id, "third"],
      ];
      for (const [signal, workflowRunId, data] of sends) {
        assert.deepEqual(
          await send(backend, { signal, workflowRunId, data }),
          NOT_WOKEN,
        );
      }
      await claimRun(backend, run);
      const ids = [];
      for (const data of ["first", "second, broadcast", "third"]) {
        const attempt = await wait(backend, run, "go", `wait-${data}`);
        ids.push(assertReceived(await receive(backend, attempt), data));
      }
      assert.equal(new Set(ids).size, 3);
      assert.equal(
        await receive(backend, await wait(backend, run, "go", "wait-more")),
        null,
      );
    },
    ["signals"],
  );

  define(
    "receiveSignal() called again for the same attempt returns the same signal",
    async ({ backend }) => {
      const run = await createRun(backend, "target");
      await send(backend, { signal: "go", workflowRunId: run.id, data: 1 });
      await send(backend, { signal: "go", workflowRunId: run.id, data: 2 });
      await claimRun(backend, run);
      const a = await wait(backend, run, "go", "a");
      const b = await wait(backend, run, "go", "b");
      const first = await receive(backend, a);
      assertReceived(first, 1);
      assert.deepEqual(await receive(backend, a), first);
      const second = await receive(backend, b);
      assertReceived(second, 2);
      assert.deepEqual(await receive(backend, a), first);
      assert.deepEqual(await receive(backend, b), second);
      assert.equal(
        await receive(backend, await wait(backend, run, "go", "c")),
        null,
      );
    },
    ["signals"],
  );

  define(
    "a broadcast reaches the runs created before it, not those created after",
    async ({ backend }) => {
      const before = await createRun(backend, "before");
      assert.deepEqual(
        await send(backend, { signal: "go", workflowRunId: null, data: "hi" }),
        NOT_WOKEN,
      );
      const after = await createRun(backend, "after");
      await claimRun(backend, before, "w1");
      await claimRun(backend, after, "w2");
      assertReceived(
        await receive(backend, await wait(backend, before, "go", "a")),
        "hi",
      );
      assert.equal(
        await receive(
          backend,
          await wait(backend, after, "go", "a", "w2"),
          "w2",
        ),
        null,
      );
    },
    ["signals"],
  );

  define(
    "a broadcast is received once by each run",
    async ({ backend }) => {
      const one = await createRun(backend, "one");
      const two = await createRun(backend, "two");
      await send(backend, { signal: "go", workflowRunId: null, data: "all" });
      await claimRun(backend, one, "w1");
      await claimRun(backend, two, "w2");
      const id = assertReceived(
        await receive(backend, await wait(backend, one, "go", "a")),
        "all",
      );
      assert.equal(
        await receive(backend, await wait(backend, one, "go", "b")),
        null,
      );
      assert.equal(
        assertReceived(
          await receive(
            backend,
            await wait(backend, two, "go", "a", "w2"),
            "w2",
          ),
          "all",
        ),
        id,
      );
      assert.equal(
        await receive(backend, await wait(backend, two, "go", "b", "w2"), "w2"),
        null,
      );
    },
    ["signals"],
  );

  define(
    "sendSignal() makes a sleeping run waiting for the name claimable at once",
    async ({ backend }) => {
      const run = await createRun(backend, "target");
      await claimRun(backend, run, "w1");
      const attempt = await wait(backend, run, "go", "a");
      assert.equal(await receive(backend, attempt), null);
      await parkRun(backend, run, "w1");
      await assertNotClaimable(backend, run);
      assert.deepEqual(
        await send(backend, { signal: "stop", workflowRunId: run.id }),
        NOT_WOKEN,
      );
      await assertNotClaimable(backend, run);
      assert.deepEqual(
        await send(backend, { signal: "go", workflowRunId: run.id, data: 1 }),
        { kind: "sent", workflowRunIds: [run.id] },
      );
      assert.equal(
        (await backend.getWorkflowRun({ workflowRunId: run.id }))?.status,
        "sleeping",
      );
      const claimed = await claimRun(backend, run, "w2");
      assert.equal(claimed.attempts, 2);
      assertReceived(await receive(backend, attempt, "w2"), 1);
      // The claim cleared the wake-up: the next release keeps its time.
      await parkRun(backend, run, "w2");
      await assertNotClaimable(backend, run);
    },
    ["signals"],
  );

  define(
    "a broadcast wakes every unfinished run waiting for the name, and no other",
    async ({ backend }) => {
      const parked = async (
        name: string,
        signal: string | null,
        status: "pending" | "sleeping" = "sleeping",
      ) => {
        const run = await createRun(backend, name);
        await claimRun(backend, run, "w1");
        if (signal !== null) await wait(backend, run, signal, "a");
        await parkRun(backend, run, "w1", status);
        return run;
      };
      const sleeping = await parked("sleeping", "go");
      const pending = await parked("pending", "go", "pending");
      const otherName = await parked("other-name", "stop");
      const notWaiting = await parked("not-waiting", null);
      const done = await createRun(backend, "done");
      await claimRun(backend, done, "w1");
      const finishedWait = await wait(backend, done, "go", "a");
      await backend.markStepAttemptSucceeded({
        workflowRunId: done.id,
        workerId: "w1",
        stepAttemptId: finishedWait.id,
        output: null,
      });
      await parkRun(backend, done, "w1");
      const canceled = await parked("canceled", "go");
      await backend.cancelWorkflowRun({
        workflowRunId: canceled.id,
        error: { name: "WorkflowCanceledError", message: "canceled" },
      });
      for (const run of [done, notWaiting]) {
        assert.deepEqual(
          await send(backend, { signal: "go", workflowRunId: run.id }),
          NOT_WOKEN,
        );
      }
      assert.deepEqual(
        woke(await send(backend, { signal: "go", workflowRunId: null })),
        [sleeping.id, pending.id].sort(),
      );
      await claimRun(backend, sleeping, "w2");
      await claimRun(backend, pending, "w2");
      for (const run of [otherName, notWaiting, done]) {
        await assertNotClaimable(backend, run);
      }
    },
    ["signals"],
  );

  define(
    "a signal sent while the run is running makes its next release claimable at once",
    async ({ backend }) => {
      const run = await createRun(backend, "target");
      const held = await claimRun(backend, run, "w1");
      const attempt = await wait(backend, run, "go", "a");
      assert.equal(await receive(backend, attempt), null);
      assert.deepEqual(
        await send(backend, { signal: "go", workflowRunId: run.id, data: 1 }),
        { kind: "sent", workflowRunIds: [run.id] },
      );
      // The lease is untouched.
      const current = await backend.getWorkflowRun({ workflowRunId: run.id });
      assert.equal(current?.status, "running");
      assert.equal(current?.workerId, "w1");
      assert.equal(current?.availableAt.getTime(), held.availableAt.getTime());
      await assertNotClaimable(backend, run);
      await parkRun(backend, run, "w1");
      const claimed = await claimRun(backend, run, "w2");
      assert.equal(claimed.attempts, 2);
      assertReceived(await receive(backend, attempt, "w2"), 1);
      // The claim cleared the wake-up: the next release keeps its time.
      await parkRun(backend, run, "w2");
      await assertNotClaimable(backend, run);
    },
    ["signals"],
  );

  define(
    "sendSignal() with an idempotency key returns the first outcome and stores nothing more",
    async ({ backend }) => {
      const run = await createRun(backend, "target");
      await claimRun(backend, run, "w1");
      const attempt = await wait(backend, run, "go", "a");
      await parkRun(backend, run, "w1");
      const first = await send(backend, {
        signal: "go",
        workflowRunId: run.id,
        data: 1,
        idempotencyKey: "k",
      });
      assert.deepEqual(first, { kind: "sent", workflowRunIds: [run.id] });
      for (
        const again of [
          { signal: "go", workflowRunId: run.id, data: 2 },
          { signal: "other", workflowRunId: null, data: 3 },
        ]
      ) {
        assert.deepEqual(
          await send(backend, { ...again, idempotencyKey: "k" }),
          first,
        );
      }
      await claimRun(backend, run, "w2");
      assertReceived(await receive(backend, attempt, "w2"), 1);
      await backend.markStepAttemptSucceeded({
        workflowRunId: run.id,
        workerId: "w2",
        stepAttemptId: attempt.id,
        output: { data: 1 },
      });
      for (const [signal, stepName] of [["go", "b"], ["other", "c"]]) {
        assert.equal(
          await receive(
            backend,
            await wait(backend, run, signal, stepName, "w2"),
            "w2",
          ),
          null,
        );
      }
      // Concurrent sends with one key store one signal.
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, (_, data) =>
          send(backend, {
            signal: "race",
            workflowRunId: run.id,
            data,
            idempotencyKey: "k2",
          })),
      );
      for (const outcome of outcomes) assert.deepEqual(outcome, NOT_WOKEN);
      const raced = await receive(
        backend,
        await wait(backend, run, "race", "d", "w2"),
        "w2",
      );
      assert.ok(raced !== null && typeof raced.data === "number");
      assert.equal(
        await receive(
          backend,
          await wait(backend, run, "race", "e", "w2"),
          "w2",
        ),
        null,
      );
    },
    ["signals"],
  );

  define(
    "receiveSignal() is fenced to the run's holder",
    async ({ backend }) => {
      const run = await createRun(backend, "target");
      await claimRun(backend, run, "w1");
      const attempt = await wait(backend, run, "go", "a");
      await send(backend, { signal: "go", workflowRunId: run.id, data: 1 });
      assert.ok(backend.receiveSignal !== undefined);
      const params = {
        workflowRunId: run.id,
        workerId: "w1",
        stepAttemptId: attempt.id,
        signal: "go",
      };
      for (
        const wrong of [
          { workerId: "w2" },
          { workflowRunId: crypto.randomUUID() },
          { workflowRunId: "not-a-uuid" },
        ]
      ) {
        await assert.rejects(
          backend.receiveSignal({ ...params, ...wrong }),
          LeaseLostError,
        );
      }
      // Nothing was delivered by the calls refused.
      const received = assertReceived(await receive(backend, attempt), 1);
      // Once released, its former holder is refused too.
      await parkRun(backend, run, "w1");
      await assert.rejects(backend.receiveSignal(params), LeaseLostError);
      await claimRun(backend, run, "w2");
      assert.equal(
        assertReceived(await receive(backend, attempt, "w2"), 1),
        received,
      );
      await backend.markWorkflowRunSucceeded({
        workflowRunId: run.id,
        workerId: "w2",
        output: null,
      });
      await assert.rejects(
        backend.receiveSignal({ ...params, workerId: "w2" }),
        LeaseLostError,
      );
    },
    ["signals"],
  );

  define(
    "signal names and data are stored verbatim",
    async ({ backend }) => {
      const names = [
        "go",
        "Go",
        " go ",
        `it's "quoted"`,
        "'; DROP TABLE x; --",
        "%",
        "_",
        "a\\b",
        "名前 🎉",
      ];
      const dataOf = (i: number): JsonValue | null =>
        i === 0 ? null : i === 1 ? "a\u0000b" : {
          i,
          nul: "x\u0000y",
          lone: "x\ud800y",
          quote: `'";--`,
          emoji: "🎉",
          deep: [[{ k: [null, -0.5, true] }]],
        };
      // A run waiting for one of the names is woken by that name alone.
      const waiting = await createRun(backend, "waiting");
      await claimRun(backend, waiting, "w2");
      await wait(backend, waiting, `it's "quoted"`, "a", "w2");
      await parkRun(backend, waiting, "w2");
      for (const signal of ["%", "_", "it's", `it's "quoted" `]) {
        assert.deepEqual(
          await send(backend, { signal, workflowRunId: waiting.id }),
          NOT_WOKEN,
        );
      }
      assert.deepEqual(
        await send(backend, {
          signal: `it's "quoted"`,
          workflowRunId: waiting.id,
        }),
        { kind: "sent", workflowRunIds: [waiting.id] },
      );

      const run = await createRun(backend, "target");
      for (const [i, signal] of names.entries()) {
        assert.deepEqual(
          await send(backend, {
            signal,
            workflowRunId: run.id,
            data: dataOf(i),
          }),
          NOT_WOKEN,
        );
      }
      await claimRun(backend, run, "w1");
      // Newest first: a name that matched others (a pattern, a case-blind
      // or trimmed comparison) would receive an older signal of theirs.
      for (const [i, signal] of [...names.entries()].reverse()) {
        assertReceived(
          await receive(backend, await wait(backend, run, signal, `a${i}`)),
          dataOf(i),
        );
      }
      for (const [i, signal] of names.entries()) {
        assert.equal(
          await receive(backend, await wait(backend, run, signal, `b${i}`)),
          null,
          signal,
        );
      }
    },
    ["signals"],
  );

  define(
    "namespaces isolate signals",
    async ({ backend, connect }) => {
      const other = await connect(randomNamespace());
      const run = await createRun(backend, "target");
      await claimRun(backend, run, "w1");
      const attempt = await wait(backend, run, "go", "a");
      await parkRun(backend, run, "w1");
      const theirs = await createRun(other, "theirs");
      assert.deepEqual(
        await send(other, { signal: "go", workflowRunId: run.id }),
        { kind: "run-not-found" },
      );
      assert.deepEqual(
        await send(other, {
          signal: "go",
          workflowRunId: null,
          data: "theirs",
          idempotencyKey: "k",
        }),
        NOT_WOKEN,
      );
      await assertNotClaimable(backend, run);
      // The same key in this namespace is another signal.
      assert.deepEqual(
        await send(backend, {
          signal: "go",
          workflowRunId: run.id,
          data: "mine",
          idempotencyKey: "k",
        }),
        { kind: "sent", workflowRunIds: [run.id] },
      );
      await claimRun(backend, run, "w1");
      assert.ok(other.receiveSignal !== undefined);
      await assert.rejects(
        other.receiveSignal({
          workflowRunId: run.id,
          workerId: "w1",
          stepAttemptId: attempt.id,
          signal: "go",
        }),
        LeaseLostError,
      );
      assertReceived(await receive(backend, attempt), "mine");
      assert.equal(
        await receive(backend, await wait(backend, run, "go", "b")),
        null,
      );
      await claimRun(other, theirs, "w1");
      assertReceived(
        await receive(other, await wait(other, theirs, "go", "a")),
        "theirs",
      );
    },
    ["signals", "sharedStore"],
  );
}
