/**
 * Human approval: an expense report waits durably for a manager's answer,
 * sent from outside as a signal. The waiting run holds no worker and wakes
 * within milliseconds of the send; an answer sent before the run waits is
 * kept in its mailbox and delivered when it does, so nothing is lost.
 *
 *   deno run -A examples/approval.ts
 *   DATABASE_URL=postgresql://localhost/app deno run -A examples/approval.ts
 */

import { type Backend, OpenWorkflow, type WorkflowRunHandle } from "../mod.ts";
import { connectBackend } from "./backend.ts";

/** An expense report. */
export interface ExpenseReport {
  /** The report's id. */
  id: string;
  /** Who is to be paid. */
  employee: string;
  /** How much, in USD. */
  amount: number;
}

/** What the example observed for one report. */
export interface ApprovalOutcome {
  /** Whether the run was waiting and received the answer at once. */
  receivedAtOnce: boolean;
  /** How often a worker executed the run (a run that parks resumes once). */
  executions: number;
  /** The workflow's output. */
  outcome: string;
}

/** Resolves to the run's status once it waits for its signal. */
async function untilWaiting(handle: WorkflowRunHandle<unknown>) {
  let status = "";
  for (let i = 0; i < 500 && status !== "sleeping"; i++) {
    await new Promise((r) => setTimeout(r, 10));
    status = (await handle.refresh()).status;
  }
  return status;
}

/** Runs the example on `backend` and returns what happened. */
export async function main(backend: Backend): Promise<{
  statusWhileWaiting: string;
  first: ApprovalOutcome;
  second: ApprovalOutcome;
}> {
  const ow = new OpenWorkflow({ backend });

  const expenseReport = ow.defineWorkflow<ExpenseReport, string>(
    { name: "expense-report" },
    async ({ input, step }) => {
      await step.run(
        { name: "record-request" },
        () => `${input.id}: USD ${input.amount} for ${input.employee}`,
      );
      // Durable: the run holds no worker while it waits, up to three days.
      const reply = await step.waitForSignal<
        { approved: boolean; by: string }
      >({ signal: "approval", timeout: "3d" });
      if (reply === null) {
        return await step.run(
          { name: "escalate" },
          () => `${input.id}: no answer in 3 days, escalated`,
        );
      }
      const { approved, by } = reply.data;
      return approved
        ? await step.run(
          { name: "pay" },
          () =>
            `${input.id}: paid USD ${input.amount} to ${input.employee}, approved by ${by}`,
        )
        : await step.run(
          { name: "reject" },
          () => `${input.id}: rejected by ${by}`,
        );
    },
  );

  const first = await expenseReport.run({
    id: "EXP-1",
    employee: "ada",
    amount: 120,
  });
  const second = await expenseReport.run({
    id: "EXP-2",
    employee: "grace",
    amount: 4200,
  });
  // The second report's answer comes before its run has reached the wait
  // (no worker has even picked it up yet): it is kept in the run's mailbox.
  const early = await second.sendSignal("approval", {
    approved: false,
    by: "linus",
  });

  const worker = ow.newWorker();
  await worker.start();
  try {
    // The first report waits for its manager: parked, holding no worker.
    const statusWhileWaiting = await untilWaiting(first);
    // E.g. from the handler behind an "Approve" button, in any process
    // (or: ow.sendSignal({ signal, data, workflowRunId })).
    const answer = await first.sendSignal("approval", {
      approved: true,
      by: "carol",
    });

    const outcome = async (
      handle: WorkflowRunHandle<string>,
      sent: { workflowRunIds: string[] },
    ): Promise<ApprovalOutcome> => {
      const result = await handle.result({ timeoutMs: 30_000 });
      return {
        receivedAtOnce: sent.workflowRunIds.includes(handle.id),
        executions: (await handle.refresh()).attempts,
        outcome: result,
      };
    };
    return {
      statusWhileWaiting,
      first: await outcome(first, answer),
      second: await outcome(second, early),
    };
  } finally {
    await worker.stop();
  }
}

if (import.meta.main) {
  const backend = await connectBackend();
  try {
    console.log(await main(backend));
    // {
    //   statusWhileWaiting: "sleeping",
    //   first: { receivedAtOnce: true, executions: 2, outcome: "EXP-1: paid USD 120 to ada, approved by carol" },
    //   second: { receivedAtOnce: false, executions: 1, outcome: "EXP-2: rejected by linus" }
    // }
  } finally {
    await backend.stop();
  }
}
