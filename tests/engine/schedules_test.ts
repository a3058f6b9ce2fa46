import assert from "node:assert/strict";
import {
  type Backend,
  NotJsonError,
  OpenWorkflow,
  ScheduleExistsError,
  ScheduleNotFoundError,
  type WorkflowRun,
} from "../../mod.ts";
import { DATABASE_URL, delay, testEachBackend } from "../helpers.ts";

/** Every run of `workflowName`, oldest first. */
async function runsOf(ow: OpenWorkflow, workflowName: string) {
  const runs: WorkflowRun[] = [];
  let cursor: string | null = null;
  do {
    const page = await ow.listRuns({ workflowName, cursor, limit: 1000 });
    runs.push(...page.runs);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return runs.reverse();
}

function slotOf(run: WorkflowRun): string {
  return (run.context as { slot: string }).slot;
}

testEachBackend(
  "a schedule fires one run per slot, with its input, while a worker runs",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const tick = ow.defineWorkflow<{ n: number }, number>(
      { name: "tick" },
      ({ input }) => input.n,
    );
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const schedule = await ow.createSchedule({
        id: "every-second",
        workflow: tick,
        cron: "* * * * * *",
        input: { n: 7 },
        catchUp: "all", // a slot fired late (a loaded machine) is not skipped
      });
      assert.equal(schedule.workflowName, "tick");
      assert.equal(schedule.timezone, "UTC");
      assert.equal(schedule.catchUp, "all");
      assert.equal(schedule.paused, false);
      assert.equal(schedule.nextRunAt.getMilliseconds(), 0);
      await delay(2_600);
      const runs = await runsOf(ow, "tick");
      assert.ok(runs.length >= 2, `${runs.length} runs`);
      const slots = runs.map(slotOf);
      assert.equal(new Set(slots).size, slots.length, "one run per slot");
      for (let i = 1; i < slots.length; i++) {
        assert.equal(Date.parse(slots[i]) - Date.parse(slots[i - 1]), 1000);
      }
      for (const run of runs) {
        assert.deepEqual(run.input, { n: 7 });
        // Never before its slot, by the database's clock.
        assert.ok(run.createdAt.getTime() >= Date.parse(slotOf(run)));
      }
      const after = (await ow.getSchedule("every-second"))!;
      assert.equal(after.lastRunAt?.toISOString(), slots.at(-1));
    } finally {
      await worker.stop();
    }
  },
);

testEachBackend(
  "two worker processes fire each slot exactly once",
  async ({ backend, namespaceId }) => {
    const kind = "path" in backend ? "sqlite" : "postgres";
    const location = "path" in backend
      ? (backend as { path: string }).path
      : DATABASE_URL;
    const script = new URL("../fixtures/schedule_worker.ts", import.meta.url)
      .pathname;
    const workers = [0, 1].map(() =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", script, kind, location, namespaceId],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn()
    );
    try {
      for (const worker of workers) {
        const reader = worker.stdout.getReader();
        assert.match(
          new TextDecoder().decode((await reader.read()).value),
          /ready/,
        );
        reader.releaseLock();
      }
      const ow = new OpenWorkflow({ backend });
      await ow.createSchedule({
        id: "shared",
        workflow: "tick",
        cron: "* * * * * *",
        input: "x",
        catchUp: "all",
      });
      await delay(4_300);
      await ow.pauseSchedule("shared");
      const runs = await runsOf(ow, "tick");
      const slots = runs.map(slotOf);
      assert.ok(slots.length >= 3, `${slots.length} runs`);
      assert.equal(new Set(slots).size, slots.length, "no slot fired twice");
      for (let i = 1; i < slots.length; i++) {
        assert.equal(
          Date.parse(slots[i]) - Date.parse(slots[i - 1]),
          1000,
          "no slot skipped",
        );
      }
    } finally {
      for (const worker of workers) {
        await worker.stdin.close();
        await worker.stdout.cancel();
        await worker.status;
      }
    }
  },
);

testEachBackend(
  "a paused schedule fires nothing; resumed, it fires from its next slot on",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    ow.defineWorkflow({ name: "tick" }, () => 1);
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      await ow.createSchedule({
        id: "p",
        workflow: "tick",
        cron: "* * * * * *",
      });
      const paused = await ow.pauseSchedule("p");
      assert.equal(paused.paused, true);
      await delay(1_500);
      assert.equal((await runsOf(ow, "tick")).length, 0, "none while paused");
      const resumedAt = Date.now();
      const resumed = await ow.resumeSchedule("p");
      assert.equal(resumed.paused, false);
      assert.ok(resumed.nextRunAt.getTime() > resumedAt - 50);
      await delay(1_300);
      const runs = await runsOf(ow, "tick");
      assert.ok(runs.length >= 1);
      assert.ok(
        runs.every((run) => Date.parse(slotOf(run)) > resumedAt - 50),
        "no slot missed while paused",
      );
    } finally {
      await worker.stop();
    }
  },
);

/** A schedule made due since 2020 (a yearly slot on January 1st). */
async function overdue(backend: Backend, ow: OpenWorkflow, catchUp: string) {
  await ow.createSchedule({
    id: `yearly-${catchUp}`,
    workflow: "tick",
    cron: "0 0 1 1 *",
    catchUp: catchUp as "latest",
  });
  await backend.updateSchedule!({
    id: `yearly-${catchUp}`,
    paused: false,
    nextRunAt: new Date("2020-01-01T00:00:00Z"),
  });
}

testEachBackend(
  "after downtime, catchUp fires the latest missed slot, none, or all of them",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const year = new Date().getUTCFullYear();
    ow.defineWorkflow({ name: "tick" }, () => 1);
    for (const catchUp of ["latest", "none", "all"]) {
      await overdue(backend, ow, catchUp);
    }
    await ow.newWorker().tick();
    const runs = await runsOf(ow, "tick");
    const bySchedule = (id: string) =>
      runs.filter((run) =>
        (run.context as { scheduleId: string }).scheduleId === id
      ).map(slotOf).sort();
    assert.deepEqual(bySchedule("yearly-latest"), [
      `${year}-01-01T00:00:00.000Z`,
    ]);
    assert.deepEqual(bySchedule("yearly-none"), []);
    assert.deepEqual(
      bySchedule("yearly-all"),
      Array.from(
        { length: year - 2019 },
        (_, i) => `${2020 + i}-01-01T00:00:00.000Z`,
      ),
    );
    for (const catchUp of ["latest", "none", "all"]) {
      const schedule = (await ow.getSchedule(`yearly-${catchUp}`))!;
      assert.equal(
        schedule.nextRunAt.toISOString(),
        `${year + 1}-01-01T00:00:00.000Z`,
      );
    }
  },
);

testEachBackend(
  "defineWorkflow({ schedule }) is created by the worker at start, and updated, not duplicated, at the next",
  async ({ backend }) => {
    const first = new OpenWorkflow({ backend });
    first.defineWorkflow({
      name: "nightly",
      schedule: { cron: "0 3 * * *", timezone: "Europe/Berlin" },
    }, () => "done");
    const worker = first.newWorker();
    await worker.start();
    await worker.stop();
    const created = (await first.getSchedule("nightly"))!;
    assert.equal(created.cron, "0 3 * * *");
    assert.equal(created.timezone, "Europe/Berlin");
    assert.equal(
      created.nextRunAt.getUTCHours() % 24 === 1 ||
        created.nextRunAt.getUTCHours() === 2,
      true,
      "03:00 in Berlin",
    );
    await first.pauseSchedule("nightly");
    const second = new OpenWorkflow({ backend });
    second.defineWorkflow({
      name: "nightly",
      schedule: { cron: "0 4 * * *", timezone: "Europe/Berlin" },
    }, () => "done");
    const next = second.newWorker();
    await next.start();
    await next.stop();
    const schedules = await second.listSchedules();
    assert.equal(schedules.length, 1);
    assert.equal(schedules[0].cron, "0 4 * * *");
    assert.equal(schedules[0].paused, true, "a pause survives a deploy");
  },
);

testEachBackend(
  "triggerSchedule() starts one run now; unknown ids and taken ids are typed errors",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const tick = ow.defineWorkflow({ name: "tick" }, ({ input }) => input);
    await ow.createSchedule({
      id: "manual",
      workflow: tick,
      cron: "0 0 1 1 *",
      input: "by hand",
    });
    const handle = await ow.triggerSchedule("manual");
    await ow.newWorker().tick();
    assert.equal(await handle.result(), "by hand");
    await assert.rejects(
      ow.createSchedule({ id: "manual", workflow: tick, cron: "* * * * *" }),
      (e) => e instanceof ScheduleExistsError && e.scheduleId === "manual",
    );
    for (
      const call of [
        () => ow.triggerSchedule("nope"),
        () => ow.pauseSchedule("nope"),
        () => ow.resumeSchedule("nope"),
      ]
    ) {
      await assert.rejects(call(), ScheduleNotFoundError);
    }
    assert.equal(await ow.getSchedule("nope"), null);
    assert.equal(await ow.deleteSchedule("manual"), true);
    assert.equal(await ow.deleteSchedule("manual"), false);
    assert.deepEqual(await ow.listSchedules(), []);
  },
);

testEachBackend(
  "bad schedules are refused with typed errors naming the problem, and store nothing",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const base = { id: "bad", workflow: "tick", cron: "0 3 * * *" };
    await assert.rejects(
      ow.createSchedule({ ...base, cron: "61 * * * *" }),
      (e) => e instanceof TypeError && e.message.includes('"61 * * * *"'),
    );
    await assert.rejects(
      ow.createSchedule({ ...base, cron: "" }),
      (e) => e instanceof TypeError && /'cron'/.test(e.message),
    );
    await assert.rejects(
      ow.createSchedule({ ...base, timezone: "Mars/Olympus_Mons" }),
      (e) => e instanceof RangeError && e.message.includes("Mars/Olympus_Mons"),
    );
    await assert.rejects(
      ow.createSchedule({ ...base, catchUp: "some" as "all" }),
      (e) => e instanceof TypeError && /'catchUp'/.test(e.message),
    );
    await assert.rejects(
      ow.createSchedule({ ...base, input: { fn: () => 1 } }),
      NotJsonError,
    );
    await assert.rejects(
      ow.createSchedule({ ...base, id: "" }),
      (e) => e instanceof TypeError && /'id'/.test(e.message),
    );
    assert.throws(
      () =>
        ow.defineWorkflow(
          { name: "x", schedule: { cron: "nonsense" } },
          () => 1,
        ),
      TypeError,
    );
    assert.deepEqual(await ow.listSchedules(), []);
  },
);
