import assert from "node:assert/strict";
import { OpenWorkflow, WorkflowFailedError } from "../../mod.ts";
import { main as basic } from "../../examples/basic.ts";
import { main as typed } from "../../examples/typed.ts";
import { main as parallel } from "../../examples/parallel.ts";
import { main as errorHandling } from "../../examples/error_handling.ts";
import { main as retries } from "../../examples/retries.ts";
import { main as workflowRetry } from "../../examples/workflow_retry.ts";
import { main as sleep } from "../../examples/sleep.ts";
import { main as cancellation } from "../../examples/cancellation.ts";
import { main as idempotency } from "../../examples/idempotency.ts";
import { main as versioning } from "../../examples/versioning.ts";
import { main as inspection } from "../../examples/inspection.ts";
import { main as approval } from "../../examples/approval.ts";
import { main as parentChild } from "../../examples/parent_child.ts";
import { main as schedule } from "../../examples/schedule.ts";
import { main as flowControl } from "../../examples/flow_control.ts";
import { main as operating } from "../../examples/operating.ts";
import { main as transactional } from "../../examples/transactional.ts";
import { main as saga } from "../../examples/saga.ts";
import { main as timeSkipping } from "../../examples/time_skipping.ts";
import { testEachBackend } from "../helpers.ts";

testEachBackend("examples/basic.ts greets Alice", async ({ backend }) => {
  assert.deepEqual(await basic(backend), { greeting: "Hello, Alice!" });
});

testEachBackend("examples/typed.ts sends the email", async ({ backend }) => {
  const output = await typed(backend);
  assert.match(output.emailId, /^email-\d+$/);
  assert.ok(!Number.isNaN(Date.parse(output.sentAt)));
});

testEachBackend(
  "examples/parallel.ts gathers three results",
  async ({ backend }) => {
    assert.deepEqual(await parallel(backend), {
      user: { id: "u-1", name: "Ada" },
      settings: { theme: "dark" },
      subscription: { plan: "pro" },
    });
  },
);

testEachBackend(
  "examples/error_handling.ts logs, rethrows and fails the run",
  async ({ backend }) => {
    const outcome = await errorHandling(backend);
    assert.ok(outcome.error instanceof WorkflowFailedError);
    assert.equal((outcome.error.cause as Error).message, "service unavailable");
    assert.deepEqual(outcome.logged.slice(-1), ["Error: service unavailable"]);
    assert.equal(outcome.calls % 2, 0, "two attempts per run of the example");
  },
);

testEachBackend(
  "examples/retries.ts retries a flaky step and stops on NonRetryableError",
  async ({ backend }) => {
    assert.deepEqual(await retries(backend), {
      quote: "USD 42.5",
      validation: "rejected: currency not supported",
      attempts: 3,
    });
  },
);

testEachBackend(
  "examples/workflow_retry.ts retries the whole run and replays its completed steps",
  async ({ backend }) => {
    assert.deepEqual(await workflowRetry(backend), {
      receipt: "reservation-A-17, payment-A-17",
      runAttempts: 2,
      calls: { reserve: 1, charge: 2 },
      steps: [
        "reserve-stock: succeeded",
        "charge-card: failed",
        "charge-card: succeeded",
      ],
    });
  },
);

testEachBackend(
  "examples/sleep.ts sleeps durably and resumes",
  async ({ backend }) => {
    assert.deepEqual(await sleep(backend), {
      statusWhileSleeping: "sleeping",
      result: "reminder mail to ada",
    });
  },
);

testEachBackend(
  "examples/cancellation.ts cancels a running run",
  async ({ backend }) => {
    assert.deepEqual(await cancellation(backend), {
      canceled: true,
      stepSaw: "WorkflowCanceledError",
      status: "canceled",
    });
  },
);

testEachBackend(
  "examples/idempotency.ts starts one run for five calls",
  async ({ backend }) => {
    assert.deepEqual(await idempotency(backend), {
      distinctRuns: 1,
      charges: 1,
    });
  },
);

testEachBackend(
  "examples/versioning.ts runs each version on its own workers",
  async ({ backend }) => {
    assert.deepEqual(await versioning(backend), {
      v1: "v1: email only",
      v2: "v2: email and sms",
      waitingFor: "1",
    });
  },
);

testEachBackend(
  "examples/inspection.ts lists and pages runs",
  async ({ backend }) => {
    assert.deepEqual(await inspection(backend), {
      listed: 5,
      pages: 3,
      steps: ["download: succeeded", "resize: succeeded"],
    });
  },
);

testEachBackend(
  "examples/approval.ts delivers an answer to a waiting run, and one sent before the wait",
  async ({ backend }) => {
    assert.deepEqual(await approval(backend), {
      statusWhileWaiting: "sleeping",
      first: {
        receivedAtOnce: true,
        executions: 2,
        outcome: "EXP-1: paid USD 120 to ada, approved by carol",
      },
      second: {
        receivedAtOnce: false,
        executions: 1,
        outcome: "EXP-2: rejected by linus",
      },
    });
  },
);

testEachBackend(
  "examples/parent_child.ts runs a child and a detached child on one slot",
  async ({ backend }) => {
    assert.deepEqual(await parentChild(backend), {
      receipt: "ORD-7: charged USD 68",
      children: ["audit-order: succeeded", "price-order: succeeded"],
    });
  },
);

testEachBackend(
  "examples/schedule.ts fires one run per slot, pauses, triggers, deletes, and creates a declared schedule",
  async ({ backend }) => {
    const { runs, ...outcome } = await schedule(backend);
    assert.ok(runs >= 2, `${runs} runs in about 2.5 s`);
    assert.deepEqual(outcome, {
      oneRunPerSlot: true,
      slotsOneSecondApart: true,
      outputs: ["daily report sent"],
      paused: {
        paused: true,
        lastRunAtIsLastSlot: true,
        nextRunAtAfterLastRunAt: true,
      },
      triggered: { slot: null, output: "daily report sent" },
      deleted: true,
      declared: {
        id: "nightly-cleanup",
        cron: "0 3 * * *",
        timezone: "Europe/Berlin",
        paused: false,
        berlinTime: "03:00",
      },
    });
    const ow = new OpenWorkflow({ backend });
    assert.deepEqual(await ow.listSchedules(), [], "the example leaves none");
  },
);

testEachBackend(
  "examples/flow_control.ts keeps one sync per customer, claims by priority and spaces rate-limited starts",
  async ({ backend }) => {
    assert.deepEqual(await flowControl(backend), {
      concurrency: {
        keys: ["c-1", "c-1", "c-1", "c-2"],
        c1NeverOverlapped: true,
        c2RanAlongside: true,
      },
      priority: { started: [0, 10, 5], executed: [10, 5, 0] },
      rateLimit: { succeeded: 5, spaced: true },
    });
  },
);

/** Runs the demo in `cwd` on SQLite; resolves to its exit code and output. */
function spawnDemo(cwd: string, args: string[] = []) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../examples/demo.ts", import.meta.url).pathname,
      ...args,
    ],
    cwd,
    env: { DATABASE_URL: "" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function finish(child: Deno.ChildProcess) {
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, out: decoder.decode(stdout), err: decoder.decode(stderr) };
}

function keptSteps(out: string): number {
  return [...out.matchAll(/(\d+) kept from before/g)]
    .reduce((n, [, kept]) => n + Number(kept), 0);
}

Deno.test("examples/demo.ts kills a worker mid-way and resumes without redoing a step", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "openworkflow-demo-" });
  try {
    const { code, out, err } = await finish(spawnDemo(cwd));
    assert.equal(code, 0, out + err);
    assert.match(out, /Part 1: .* killed \(SIGKILL\)/);
    assert.match(out, /✗ notify-sms .*no phone number on file/);
    assert.equal(out.match(/ succeeded TRK-ORDER-\d/g)?.length, 6);
    assert.ok(keptSteps(out) > 0, out);
    assert.match(out, /Completed steps executed twice: 0/);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("examples/demo.ts interrupted with Ctrl-C resumes when run again", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "openworkflow-demo-" });
  try {
    const first = spawnDemo(cwd);
    // Interrupt once a few steps have completed.
    const reader = first.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let seen = "";
    while ((seen.match(/✓/g)?.length ?? 0) < 4) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    // A step prints ✓ as its function returns, and its result is stored
    // a moment later: the interrupt comes once the four are stored (the
    // next steps take 100 ms and more).
    await new Promise((resolve) => setTimeout(resolve, 50));
    first.kill("SIGINT");
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    await first.stderr.cancel();
    const status = await first.status;
    assert.equal(status.code, 130, seen);
    assert.match(seen, /interrupted\. Run `deno task demo` again/);

    const { code, out, err } = await finish(spawnDemo(cwd));
    assert.equal(code, 0, out + err);
    assert.match(
      out,
      /Found 6 unfinished orders from an interrupted invocation/,
    );
    assert.doesNotMatch(out, /Part 1/);
    assert.ok(keptSteps(out) >= 4, out);
    assert.equal(out.match(/ succeeded TRK-ORDER-\d/g)?.length, 6);
    assert.match(out, /Completed steps executed twice: 0/);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

testEachBackend(
  "examples/operating.ts retries a failed run after the fix, forks it from a step, and deletes finished runs",
  async ({ backend }) => {
    assert.deepEqual(await operating(backend), {
      retried: {
        firstError: "card service down",
        result: "shipped with receipt-o-1",
        reserveCalls: 1,
      },
      forked: {
        result: "shipped with receipt-o-1",
        forkedFrom: true,
        reserveCalls: 1,
      },
      deleted: 2,
    });
  },
);

Deno.test("examples/transactional.ts commits an order with its run, and rolls back both", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(await transactional(`${dir}/shop.db`), {
      committed: "order 1 shipped",
      rolledBackRunExists: false,
      orders: ["book"],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

testEachBackend(
  "examples/saga.ts undoes the bookings, latest first, when the car rental fails, and a canceled hold's room",
  async ({ backend }) => {
    assert.deepEqual(await saga(backend), {
      log: [
        "book flight",
        "book hotel",
        "rent car",
        "cancel hotel in Lisbon",
        "cancel flight to Lisbon",
      ],
      error: "no cars left",
      steps: [
        "book-flight: succeeded",
        "book-hotel: succeeded",
        "rent-car: failed",
        "compensate:book-hotel: succeeded",
        "compensate:book-flight: succeeded",
      ],
      canceled: { log: ["release room 12"], status: "canceled" },
    });
  },
);

Deno.test("examples/time_skipping.ts runs a month of timers in the test environment", async () => {
  const outcome = await timeSkipping();
  assert.equal(outcome.trial, "charged on day 30");
  assert.equal(outcome.reminder, "no reply by day 7");
  assert.deepEqual(outcome.reportDays, Array.from({ length: 30 }, (_, i) => i));
  assert.equal(outcome.days, 30);
});
