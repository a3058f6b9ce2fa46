/**
 * The writes of `BackendPostgres`, batched: concurrent writes of every
 * kind go to the database together, each kind as one statement, several
 * kinds in one transaction.
 *
 * @module
 */

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
  | { kind: "heartbeat"; item: HeartbeatWorkflowRunParams };

/**
 * Whether the database rejected a statement for a value in it (SQLSTATE
 * class 22, "data exception"), rather than for the connection or the load.
 */
function isDataException(error: unknown): boolean {
  const code = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof code === "string" && code.startsWith("22");
}

/**
 * Sends a batch of writes. Should the database reject a value of one of
 * them (a data exception: a time or interval out of range, text it cannot
 * store), the statement changed nothing, and each write is sent again
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
    if (batch.length === 1 || !isDataException(error)) throw error;
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

/**
 * Sends a batch of writes in one transaction, pipelined. A run's success
 * that carries step outputs (`RunTransition.steps`) has them written by
 * the step statement, which goes first; should one of them fail its
 * fence, so does the success.
 */
export async function flushWrites(
  scope: Scope,
  batch: Write[],
): Promise<unknown[]> {
  const results = new Array<unknown>(batch.length);
  const groups = new Map<Write["kind"], number[]>();
  // The steps carried by successes, each with the index of its success.
  const carried: { index: number; step: StepTransition }[] = [];
  batch.forEach((write, i) => {
    const group = groups.get(write.kind);
    if (group === undefined) groups.set(write.kind, [i]);
    else group.push(i);
    if (write.kind === "transition" && write.item.kind === "succeeded") {
      for (const step of write.item.steps ?? []) {
        carried.push({ index: i, step });
      }
    }
  });
  const carriedLost: [number, Error][] = [];
  const send = async (s: Scope) => {
    const pick = <T>(kind: Write["kind"]) =>
      (groups.get(kind) ?? []).map((i) => batch[i].item as T);
    const run = async <T>(
      kind: Write["kind"],
      statement: (s: Scope, items: T[]) => Promise<unknown[]>,
    ) => {
      const indexes = groups.get(kind);
      if (indexes === undefined) return;
      const outcomes = await statement(s, pick<T>(kind));
      indexes.forEach((index, j) => results[index] = outcomes[j]);
    };
    const finishSteps = async () => {
      if (carried.length === 0) {
        return await run("finishStep", finishStepAttempts);
      }
      const own = pick<StepTransition>("finishStep");
      const outcomes = await finishStepAttempts(s, [
        ...own,
        ...carried.map((c) => c.step),
      ]);
      (groups.get("finishStep") ?? []).forEach((index, j) =>
        results[index] = outcomes[j]
      );
      carried.forEach(({ index }, j) => {
        const outcome = outcomes[own.length + j];
        if (outcome instanceof Error) carriedLost.push([index, outcome]);
      });
    };
    const settled = await Promise.allSettled([
      run("createRun", createWorkflowRuns),
      finishSteps(),
      run("createStep", createStepAttempts),
      run("transition", transitionWorkflowRuns),
      run("heartbeat", heartbeatWorkflowRuns),
    ]);
    // In a transaction, the statements after a failed one fail for that
    // (25P02); the cause is the error to report.
    const errors = settled.flatMap((r) =>
      r.status === "rejected" ? [r.reason] : []
    );
    if (errors.length > 0) {
      throw errors.find((e) => (e as { code?: unknown })?.code !== "25P02") ??
        errors[0];
    }
    // A success whose steps failed their fence must not be stored alone:
    // the transaction is rolled back (below).
    for (const [index, error] of carriedLost) {
      if (!(results[index] instanceof Error)) {
        throw new StepsNotStored(error);
      }
      results[index] = error;
    }
  };
  // One kind of write is one statement, committed on its own; several
  // kinds go in one transaction, pipelined, with one commit.
  if (groups.size === 1 && carried.length === 0) await send(scope);
  else {
    try {
      await pipelinedTransaction(
        scope.sql,
        (tx) => send({ ...scope, sql: tx }),
      );
    } catch (error) {
      if (!(error instanceof StepsNotStored)) throw error;
      // Nothing of the batch was stored: alone, the success fails with
      // its steps' error, and the other writes are stored.
      if (batch.length === 1) return [error.lost];
      return await Promise.all(
        batch.map((write) =>
          flushWrites(scope, [write]).then(
            ([outcome]) => outcome,
            (error: unknown) => error,
          )
        ),
      );
    }
  }
  return results;
}

/** Rolls back a batch whose success would be stored without its steps. */
class StepsNotStored extends Error {
  constructor(readonly lost: Error) {
    super("A run's steps failed their fence", { cause: lost });
  }
}

/**
 * Runs `send`'s statements in one transaction on one connection, `BEGIN`
 * sent in the same flight as the statements: two round trips where the
 * driver's `begin()` takes three (it awaits `BEGIN` before the statements).
 * `COMMIT` waits for the statements' answers, for the driver may send a
 * statement it has yet to prepare after a query queued behind it.
 * Should anything fail, the transaction is rolled back and the error
 * thrown.
 */
async function pipelinedTransaction(
  sql: Sql,
  send: (tx: Sql) => Promise<void>,
): Promise<void> {
  const tx = await sql.reserve();
  try {
    const begin = tx`BEGIN`.execute();
    const [began, sent] = await Promise.allSettled([
      begin,
      send(tx as unknown as Sql),
    ]);
    const failed = [began, sent].find((r) => r.status === "rejected");
    if (failed !== undefined) {
      await tx`ROLLBACK`.catch(() => {});
      throw (failed as PromiseRejectedResult).reason;
    }
    await tx`COMMIT`;
  } finally {
    tx.release();
  }
}
