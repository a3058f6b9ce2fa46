/**
 * Conformance: child workflow runs (`Backend`, rule 11): the parent link,
 * listing a run's children, canceling attached descendants with their
 * parent, and waking the parent when an attached child finishes.
 */

import assert from "node:assert/strict";
import type {
  Backend,
  CreateWorkflowRunParams,
  WorkflowRun,
} from "../../core/backend.ts";
import { LeaseLostError } from "../../core/errors.ts";
import { type DefineCase, delay, randomNamespace } from "./define.ts";
import { runParams } from "./runs.ts";

/** An hour from now: a run parked until then stays parked during a case. */
export function anHourFromNow(): Date {
  return new Date(Date.now() + 3_600_000);
}

/**
 * Creates a run of workflow `workflowName`; give each run of a case a name
 * of its own, so that {@linkcode claimRun} can pick it.
 */
export function createRun(
  backend: Backend,
  workflowName: string,
  overrides: Partial<CreateWorkflowRunParams> = {},
): Promise<WorkflowRun> {
  return backend.createWorkflowRun(runParams(workflowName, overrides));
}

/** Claims `run` (by its workflow name) for `workerId`: it must be claimable. */
export async function claimRun(
  backend: Backend,
  run: WorkflowRun,
  workerId = "w1",
): Promise<WorkflowRun> {
  const claimed = await backend.claimWorkflowRun({
    workerId,
    leaseDurationMs: 30_000,
    workflows: [{ name: run.workflowName, version: run.version }],
  });
  assert.equal(claimed?.id, run.id, `${run.workflowName} is claimable`);
  return claimed!;
}

/** Asserts that `run` cannot be claimed now. */
export async function assertNotClaimable(
  backend: Backend,
  run: WorkflowRun,
): Promise<void> {
  const claimed = await backend.claimWorkflowRun({
    workerId: "probe",
    leaseDurationMs: 30_000,
    workflows: [{ name: run.workflowName, version: run.version }],
  });
  assert.equal(claimed, null, `${run.workflowName} is not claimable`);
}

/** Releases `run`, held by `workerId`, as `status` until an hour from now. */
export async function parkRun(
  backend: Backend,
  run: WorkflowRun,
  workerId = "w1",
  status: "pending" | "sleeping" = "sleeping",
): Promise<void> {
  await backend.releaseWorkflowRun({
    workflowRunId: run.id,
    workerId,
    status,
    availableAt: anHourFromNow(),
  });
}

/** Reads `run` as stored now. */
async function read(backend: Backend, run: WorkflowRun): Promise<WorkflowRun> {
  const current = await backend.getWorkflowRun({ workflowRunId: run.id });
  assert.ok(current !== null, `${run.workflowName} exists`);
  return current;
}

const CANCELED = { name: "WorkflowCanceledError", message: "canceled" };
const DEADLINE = { name: "DeadlineExceededError", message: "deadline" };

/**
 * The ways a child finishes: how to create it (`overrides`), how to finish
 * it once created, and the status it finishes in.
 */
const FINISHES: readonly {
  how: string;
  overrides: Partial<CreateWorkflowRunParams>;
  finish(backend: Backend, child: WorkflowRun): Promise<void>;
  status: WorkflowRun["status"];
}[] = [
  {
    how: "succeeds",
    status: "succeeded",
    overrides: {},
    async finish(backend, child) {
      await claimRun(backend, child, "child-worker");
      await backend.markWorkflowRunSucceeded({
        workflowRunId: child.id,
        workerId: "child-worker",
        output: { done: true },
      });
    },
  },
  {
    how: "fails",
    status: "failed",
    overrides: {},
    async finish(backend, child) {
      await claimRun(backend, child, "child-worker");
      await backend.markWorkflowRunFailed({
        workflowRunId: child.id,
        workerId: "child-worker",
        error: { name: "Error", message: "boom" },
      });
    },
  },
  {
    how: "is canceled",
    status: "canceled",
    overrides: {},
    async finish(backend, child) {
      const canceled = await backend.cancelWorkflowRun({
        workflowRunId: child.id,
        error: CANCELED,
      });
      assert.equal(canceled?.status, "canceled");
    },
  },
  {
    how: "passes its deadline",
    status: "failed",
    overrides: { deadlineAt: new Date(Date.now() - 1_000) },
    async finish(backend) {
      assert.equal(
        await backend.failExpiredWorkflowRuns({ error: DEADLINE }),
        1,
      );
    },
  },
];

export function childConformance(define: DefineCase): void {
  define(
    "createWorkflowRun() stores a parent id in lower case, and refuses one that is no id with a TypeError",
    async ({ backend }) => {
      const parent = await createRun(backend, "parent");
      const child = await createRun(backend, "child", {
        parentWorkflowRunId: parent.id.toUpperCase(),
      });
      assert.equal(child.parentWorkflowRunId, parent.id);
      const page = await backend.listWorkflowRuns({
        parentWorkflowRunId: parent.id,
        limit: 10,
      });
      assert.deepEqual(page.runs.map((run) => run.id), [child.id]);
      await assert.rejects(
        createRun(backend, "orphan", { parentWorkflowRunId: "not-a-uuid" }),
        (error) =>
          error instanceof TypeError &&
          /parentWorkflowRunId/.test(error.message),
      );
      const all = await backend.listWorkflowRuns({ limit: 10 });
      assert.equal(all.runs.length, 2, "nothing created");
    },
  );

  define(
    "cancelWorkflowRun() of a child that has finished does not wake its parent",
    async ({ backend }) => {
      const parent = await createRun(backend, "parent");
      await claimRun(backend, parent, "w1");
      const child = await createRun(backend, "child", {
        parentWorkflowRunId: parent.id,
      });
      await claimRun(backend, child, "w2");
      await backend.markWorkflowRunSucceeded({
        workflowRunId: child.id,
        workerId: "w2",
        output: null,
      });
      // The child's end woke the running parent: its release is at once.
      await parkRun(backend, parent, "w1");
      await claimRun(backend, parent, "w1");
      await parkRun(backend, parent, "w1");
      const canceled = await backend.cancelWorkflowRun({
        workflowRunId: child.id,
        error: {},
      });
      assert.equal(canceled?.status, "succeeded");
      await assertNotClaimable(backend, parent);
    },
  );

  define(
    "createWorkflowRun({ parentWorkflowRunId }) stores the parent link",
    async ({ backend }) => {
      const parent = await createRun(backend, "parent");
      assert.equal(parent.parentWorkflowRunId, null);
      const attached = await createRun(backend, "attached", {
        parentWorkflowRunId: parent.id,
      });
      const detached = await createRun(backend, "detached", {
        parentWorkflowRunId: parent.id,
        detached: true,
      });
      const orphan = await createRun(backend, "orphan", {
        parentWorkflowRunId: null,
        detached: false,
      });
      assert.equal(attached.parentWorkflowRunId, parent.id);
      assert.equal(detached.parentWorkflowRunId, parent.id);
      assert.equal(orphan.parentWorkflowRunId, null);
      for (const run of [parent, attached, detached, orphan]) {
        assert.deepEqual(await read(backend, run), run);
      }
      // Kept through a claim, and by a create under the same idempotency key.
      const claimed = await claimRun(backend, attached);
      assert.equal(claimed.parentWorkflowRunId, parent.id);
      const keyed = await createRun(backend, "keyed", {
        parentWorkflowRunId: parent.id,
        idempotencyKey: "k",
      });
      const again = await createRun(backend, "keyed", {
        parentWorkflowRunId: null,
        idempotencyKey: "k",
      });
      assert.equal(again.id, keyed.id);
      assert.equal(again.parentWorkflowRunId, parent.id);
    },
  );

  define(
    "listWorkflowRuns({ parentWorkflowRunId }) lists only that run's children",
    async ({ backend }) => {
      const parent = await createRun(backend, "parent");
      const other = await createRun(backend, "other-parent");
      await delay(5);
      const first = await createRun(backend, "first", {
        parentWorkflowRunId: parent.id,
      });
      await delay(5);
      const second = await createRun(backend, "second", {
        parentWorkflowRunId: parent.id,
        detached: true,
      });
      await delay(5);
      const grandchild = await createRun(backend, "grandchild", {
        parentWorkflowRunId: first.id,
      });
      await createRun(backend, "other-child", {
        parentWorkflowRunId: other.id,
      });
      await createRun(backend, "unrelated");
      const list = async (parentWorkflowRunId: string, workflowName?: string) =>
        (await backend.listWorkflowRuns({
          parentWorkflowRunId,
          workflowName,
          limit: 10,
        })).runs.map((run) => run.id);
      assert.deepEqual(await list(parent.id), [second.id, first.id]);
      assert.deepEqual(await list(first.id), [grandchild.id]);
      assert.deepEqual(await list(grandchild.id), []);
      assert.deepEqual(await list(parent.id, "first"), [first.id]);
      assert.deepEqual(await list(crypto.randomUUID()), []);
      assert.deepEqual(await list("not-a-uuid"), []);
      assert.deepEqual(await list("'; DROP TABLE x; --"), []);
      const page = await backend.listWorkflowRuns({
        parentWorkflowRunId: parent.id,
        limit: 1,
      });
      assert.deepEqual(page.runs.map((run) => run.id), [second.id]);
      const next = await backend.listWorkflowRuns({
        parentWorkflowRunId: parent.id,
        limit: 1,
        cursor: page.nextCursor,
      });
      assert.deepEqual(next.runs.map((run) => run.id), [first.id]);
    },
  );

  define(
    "cancelWorkflowRun() cancels the attached descendants, not the detached ones",
    async ({ backend }) => {
      const parent = await createRun(backend, "parent");
      await claimRun(backend, parent, "parent-worker");
      const running = await createRun(backend, "running", {
        parentWorkflowRunId: parent.id,
      });
      await claimRun(backend, running, "child-worker");
      const middle = await createRun(backend, "middle", {
        parentWorkflowRunId: parent.id,
      });
      const sleeping = await createRun(backend, "sleeping", {
        parentWorkflowRunId: middle.id,
      });
      await claimRun(backend, sleeping, "grandchild-worker");
      await parkRun(backend, sleeping, "grandchild-worker");
      const leaf = await createRun(backend, "leaf", {
        parentWorkflowRunId: sleeping.id,
      });
      const detached = await createRun(backend, "detached", {
        parentWorkflowRunId: parent.id,
        detached: true,
      });
      const underDetached = await createRun(backend, "under-detached", {
        parentWorkflowRunId: detached.id,
      });
      const finished = await createRun(backend, "finished", {
        parentWorkflowRunId: parent.id,
      });
      await claimRun(backend, finished, "finished-worker");
      await backend.markWorkflowRunSucceeded({
        workflowRunId: finished.id,
        workerId: "finished-worker",
        output: 7,
      });
      const unrelated = await createRun(backend, "unrelated");

      const canceled = await backend.cancelWorkflowRun({
        workflowRunId: parent.id,
        error: CANCELED,
      });
      assert.equal(canceled?.id, parent.id);
      assert.equal(canceled?.status, "canceled");
      assert.deepEqual(canceled?.error, CANCELED);
      assert.deepEqual(await read(backend, parent), canceled);
      for (const run of [running, middle, sleeping, leaf]) {
        const current = await read(backend, run);
        assert.equal(current.status, "canceled", run.workflowName);
        assert.deepEqual(current.error, CANCELED);
        assert.ok(current.completedAt instanceof Date);
      }
      for (const run of [detached, underDetached, unrelated]) {
        const current = await read(backend, run);
        assert.equal(current.status, "pending", run.workflowName);
        assert.equal(current.error, null);
      }
      const done = await read(backend, finished);
      assert.equal(done.status, "succeeded");
      assert.equal(done.output, 7);
      assert.equal(done.error, null);
      // The canceled child's worker is fenced out.
      await assert.rejects(
        backend.markWorkflowRunSucceeded({
          workflowRunId: running.id,
          workerId: "child-worker",
          output: 1,
        }),
        LeaseLostError,
      );
      const claimable = await backend.claimWorkflowRuns({
        workerId: "w",
        leaseDurationMs: 30_000,
        limit: 10,
      });
      assert.deepEqual(
        claimable.map((run) => run.id).sort(),
        [detached.id, underDetached.id, unrelated.id].sort(),
      );
    },
  );

  define(
    "cancelWorkflowRun() of a child cancels its subtree, not its parent or siblings",
    async ({ backend }) => {
      const parent = await createRun(backend, "parent");
      const child = await createRun(backend, "child", {
        parentWorkflowRunId: parent.id,
      });
      const sibling = await createRun(backend, "sibling", {
        parentWorkflowRunId: parent.id,
      });
      const grandchild = await createRun(backend, "grandchild", {
        parentWorkflowRunId: child.id,
      });
      const canceled = await backend.cancelWorkflowRun({
        workflowRunId: child.id,
        error: CANCELED,
      });
      assert.equal(canceled?.id, child.id);
      assert.equal(canceled?.status, "canceled");
      assert.equal((await read(backend, grandchild)).status, "canceled");
      assert.equal((await read(backend, parent)).status, "pending");
      assert.equal((await read(backend, sibling)).status, "pending");
    },
  );

  for (const { how, overrides, finish, status: finished } of FINISHES) {
    for (const status of ["sleeping", "pending"] as const) {
      define(
        `an attached child that ${how} makes its ${status} parent claimable at once`,
        async ({ backend }) => {
          const parent = await createRun(backend, "parent");
          await claimRun(backend, parent, "w1");
          const child = await createRun(backend, "child", {
            ...overrides,
            parentWorkflowRunId: parent.id,
          });
          await parkRun(backend, parent, "w1", status);
          await assertNotClaimable(backend, parent);
          await finish(backend, child);
          assert.equal((await read(backend, child)).status, finished);
          assert.equal((await read(backend, parent)).status, status);
          const claimed = await claimRun(backend, parent, "w2");
          assert.equal(claimed.attempts, 2);
          // The claim cleared the wake-up: the next release keeps its time.
          await parkRun(backend, parent, "w2", status);
          await assertNotClaimable(backend, parent);
        },
      );
    }

    define(
      `an attached child that ${how} while its parent runs makes the parent's next release claimable at once`,
      async ({ backend }) => {
        const parent = await createRun(backend, "parent");
        const held = await claimRun(backend, parent, "w1");
        const child = await createRun(backend, "child", {
          ...overrides,
          parentWorkflowRunId: parent.id,
        });
        await finish(backend, child);
        assert.equal((await read(backend, child)).status, finished);
        // The parent's lease is untouched.
        const current = await read(backend, parent);
        assert.equal(current.status, "running");
        assert.equal(current.workerId, "w1");
        assert.equal(current.availableAt.getTime(), held.availableAt.getTime());
        await assertNotClaimable(backend, parent);
        await parkRun(backend, parent, "w1");
        const claimed = await claimRun(backend, parent, "w2");
        assert.equal(claimed.attempts, 2);
        // The claim cleared the wake-up: the next release keeps its time.
        await parkRun(backend, parent, "w2");
        await assertNotClaimable(backend, parent);
      },
    );
  }

  define(
    "a detached child finishing wakes no parent",
    async ({ backend }) => {
      const sleeping = await createRun(backend, "sleeping-parent");
      await claimRun(backend, sleeping, "w1");
      await parkRun(backend, sleeping, "w1");
      const running = await createRun(backend, "running-parent");
      await claimRun(backend, running, "w2");
      for (const { overrides, finish, status } of FINISHES) {
        for (const parent of [sleeping, running]) {
          const child = await createRun(backend, "child", {
            ...overrides,
            parentWorkflowRunId: parent.id,
            detached: true,
          });
          await finish(backend, child);
          assert.equal((await read(backend, child)).status, status);
        }
      }
      await assertNotClaimable(backend, sleeping);
      await parkRun(backend, running, "w2");
      await assertNotClaimable(backend, running);
    },
  );

  define(
    "another namespace neither lists nor cancels a run's children",
    async ({ backend, connect }) => {
      const other = await connect(randomNamespace());
      const parent = await createRun(backend, "parent");
      const child = await createRun(backend, "child", {
        parentWorkflowRunId: parent.id,
      });
      assert.deepEqual(
        (await other.listWorkflowRuns({
          parentWorkflowRunId: parent.id,
          limit: 10,
        })).runs,
        [],
      );
      assert.equal(
        await other.cancelWorkflowRun({
          workflowRunId: parent.id,
          error: CANCELED,
        }),
        null,
      );
      assert.equal((await read(backend, parent)).status, "pending");
      assert.equal((await read(backend, child)).status, "pending");
    },
    ["sharedStore"],
  );

  define(
    "a backend whose notifications promise every finish (`finishes: true`) tells each way a run finishes, and the attached descendants a cancel takes with it",
    async ({ backend }) => {
      if (backend.subscribe === undefined) return; // no notifications
      const told = new Set<string>();
      let promised: boolean | undefined;
      const unsubscribe = backend.subscribe((notification) => {
        if (notification.kind === "listening" && notification.listening) {
          promised = notification.finishes === true;
        }
        if (notification.kind === "finished") {
          told.add(notification.workflowRunId);
        }
      });
      try {
        for (let i = 0; i < 200 && promised === undefined; i++) {
          await delay(10);
        }
        if (promised !== true) return; // not promised: nothing to hold to
        const toldOf = async (run: WorkflowRun, what: string) => {
          for (let i = 0; i < 500 && !told.has(run.id); i++) await delay(10);
          assert.ok(told.has(run.id), `the finish of ${what} is told`);
        };
        for (const way of FINISHES) {
          const run = await createRun(
            backend,
            `told-${way.how}`,
            way.overrides,
          );
          await way.finish(backend, run);
          await toldOf(run, `a run that ${way.how}`);
        }
        const parent = await createRun(backend, "told-parent");
        const child = await createRun(backend, "told-child", {
          parentWorkflowRunId: parent.id,
        });
        const grandchild = await createRun(backend, "told-grandchild", {
          parentWorkflowRunId: child.id,
        });
        await backend.cancelWorkflowRun({
          workflowRunId: parent.id,
          error: CANCELED,
        });
        await toldOf(parent, "a canceled parent");
        await toldOf(child, "its attached child");
        await toldOf(grandchild, "its attached grandchild");
      } finally {
        unsubscribe();
      }
    },
  );
}
