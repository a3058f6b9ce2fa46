/**
 * The writes of `BackendPostgres`, batched: concurrent writes of every
 * kind go to the database together, each kind as one statement, several
 * kinds in one transaction.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { Sql } from "./driver/index.js";
import type {
  CreateStepAttemptParams,
  CreateWorkflowRunParams,
  HeartbeatWorkflowRunParams,
} from "../core/backend.ts";
import { guard } from "./errors.ts";
import {
  createWorkflowRuns,
  heartbeatWorkflowRuns,
  type RunTransition,
  transitionWorkflowRuns,
} from "./runs.ts";
import type { Scope } from "./scope.ts";
import {
  createStepAttempts,
  finishStepAttempts,
  type StepTransition,
} from "./steps.ts";

/** A write, sent with others in one transaction. */
export type Write =
  | { kind: "createRun"; item: CreateWorkflowRunParams & { id: string } }
  | { kind: "transition"; item: RunTransition }
  | { kind: "createStep"; item: CreateStepAttemptParams & { id: string } }
  | { kind: "finishStep"; item: StepTransition }
  | { kind: "heartbeat"; item: HeartbeatWorkflowRunParams }
  | {
    kind: "succeedWithSteps";
    item: {
      steps: StepTransition[];
      run: RunTransition & { kind: "succeeded" };
    };
  };

/** The statements a batch is sent as, one per kind of item. */
type StatementKind = Exclude<Write["kind"], "succeedWithSteps">;

/**
 * Whether the database rejected a statement for a value in it (SQLSTATE
 * class 22, "data exception", or 23, "integrity constraint violation": a
 * step attempt of a kind the table does not know, say), rather than for
 * the connection or the load.
 */
function isRefusedValue(error: unknown): boolean {
  const code = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof code === "string" &&
    (code.startsWith("22") || code.startsWith("23"));
}

/**
 * Sends a batch of writes. Should the database reject a value of one of
 * them (a data exception: a time or interval out of range, text it cannot
 * store; or a constraint: a step kind it does not know), the statement
 * changed nothing, and each write is sent again
 * alone: a bad value fails its own call, never the other runs' writes that
 * shared its batch.
 */
export async function flushIsolated(
  scope: Scope,
  batch: Write[],
): Promise<unknown[]> {
  try {
    return await guard("write", flushWrites(scope, batch));
  } catch (error) {
    if (batch.length === 1 || !isRefusedValue(error)) throw error;
    return await Promise.all(
      batch.map((write) =>
        guard("write", flushWrites(scope, [write])).then(
          ([outcome]) => outcome,
          (error: unknown) => error,
        )
      ),
    );
  }
}

/** Sends a batch of writes in one transaction, pipelined. */
export async function flushWrites(
  scope: Scope,
  batch: Write[],
): Promise<unknown[]> {
  const results = new Array<unknown>(batch.length);
  // The items of each statement, and where each item's outcome goes.
  const groups = new Map<
    StatementKind,
    { items: unknown[]; put: ((outcome: unknown) => void)[] }
  >();
  const add = (
    kind: StatementKind,
    item: unknown,
    put: (outcome: unknown) => void,
  ) => {
    const group = groups.get(kind);
    if (group === undefined) groups.set(kind, { items: [item], put: [put] });
    else {
      group.items.push(item);
      group.put.push(put);
    }
  };
  const composites: (() => void)[] = [];
  batch.forEach((write, i) => {
    if (write.kind !== "succeedWithSteps") {
      add(write.kind, write.item, (outcome) => results[i] = outcome);
      return;
    }
    // The attempts are finished first; the run is marked succeeded only
    // if they all are (its statement checks), and fails as the first of
    // them that could not be.
    const { steps, run } = write.item;
    const stepOutcomes: unknown[] = [];
    let runOutcome: unknown;
    steps.forEach((step, j) =>
      add("finishStep", step, (outcome) => stepOutcomes[j] = outcome)
    );
    add(
      "transition",
      { ...run, stepAttemptIds: steps.map((step) => step.stepAttemptId) },
      (outcome) => runOutcome = outcome,
    );
    composites.push(() => {
      results[i] = runOutcome instanceof Error
        ? stepOutcomes.find((outcome) => outcome instanceof Error) ?? runOutcome
        : runOutcome;
    });
  });
  const send = async (s: Scope) => {
    const run = async <T>(
      kind: StatementKind,
      statement: (s: Scope, items: T[]) => Promise<unknown[]>,
    ) => {
      const group = groups.get(kind);
      if (group === undefined) return;
      const outcomes = await statement(s, group.items as T[]);
      group.put.forEach((put, j) => put(outcomes[j]));
    };
    // In this order: a run marked succeeded with its steps is checked
    // after they are finished.
    await Promise.all([
      run("createRun", createWorkflowRuns),
      run("finishStep", finishStepAttempts),
      run("createStep", createStepAttempts),
      run("transition", transitionWorkflowRuns),
      run("heartbeat", heartbeatWorkflowRuns),
    ]);
  };
  // One kind of write is one statement, committed on its own; several
  // kinds go in one transaction, pipelined, with one commit.
  if (groups.size === 1) await send(scope);
  else {
    await inPipelinedTransaction(
      scope.sql,
      (tx) => send({ ...scope, sql: tx }),
    );
  }
  for (const settle of composites) settle();
  return results;
}

/**
 * Runs the statements `send` sends in one transaction, `BEGIN`, the
 * statements and `COMMIT` sent together on one connection: one round
 * trip, where `sql.begin()` waits for the `BEGIN`, then the statements,
 * then the `COMMIT`. Should a statement fail, the database refuses the
 * rest and answers the `COMMIT` with a rollback: nothing of the batch is
 * stored, and the statement's own error is thrown.
 *
 * The driver hands a statement to its connection a few microtasks after
 * it is made (awaiting a query calls its `then()` in a job of its own, and
 * the query waits another microtask), so the `COMMIT` is made at the next
 * turn of the event loop: after every statement `send` made at once.
 * Statements arrive in the order they were made, and `send` makes them
 * all before it awaits anything.
 */
async function inPipelinedTransaction(
  sql: Sql,
  send: (tx: Sql) => Promise<void>,
): Promise<void> {
  const tx = await sql.reserve();
  try {
    const began = tx`BEGIN`.execute();
    const sent = send(tx);
    const committed = new Promise<{ command: string }>((resolve, reject) =>
      setImmediate(() => tx`COMMIT`.execute().then(resolve, reject))
    );
    const outcomes = await Promise.allSettled([began, sent, committed]);
    for (const outcome of outcomes) {
      if (outcome.status === "rejected") throw outcome.reason;
    }
    const { command } = await committed;
    if (command !== "COMMIT") {
      throw new Error(`The transaction ended with ${command}`);
    }
  } finally {
    tx.release();
  }
}
