/**
 * Conformance: cron schedules, through the optional schedule methods: what
 * `createSchedule()` stores (and does with a taken id), reading, listing,
 * pausing, resuming and deleting, which schedules are due by the backend's
 * clock, and `fireSchedule()`'s compare-and-set, which fires a slot once
 * however many workers try, with its runs in the same write.
 */

import assert from "node:assert/strict";
import type {
  Backend,
  CreateScheduleParams,
  CreateWorkflowRunParams,
  Schedule,
  WorkflowRun,
} from "../../core/backend.ts";
import type { JsonValue } from "../../core/json.ts";
import { type DefineCase, randomNamespace } from "./define.ts";
import { runParams } from "./runs.ts";
import { scheduleMethods } from "../../core/schedule_store.ts";

/** The backend's schedule methods and clock; each must be implemented. */
function schedules(
  backend: Backend,
): ReturnType<typeof scheduleMethods> & Required<Pick<Backend, "now">> {
  const { now } = backend;
  assert.equal(typeof now, "function", "now() is implemented");
  return {
    ...scheduleMethods(backend, "test schedules"),
    now: now!.bind(backend),
  };
}

const MINUTE = 60_000;
const HOUR = 3_600_000;

/** The latest time the engine stores, for a schedule with no slot left. */
const MAX_DATE = new Date(253_402_300_799_999);

/** `ms` after `date`. */
function plus(date: Date, ms: number): Date {
  return new Date(date.getTime() + ms);
}

/** Params of a schedule `id`, an hour from `now` unless overridden. */
function scheduleParams(
  id: string,
  now: Date,
  overrides: Partial<CreateScheduleParams> = {},
): CreateScheduleParams {
  return {
    id,
    workflowName: "wf",
    version: null,
    cron: "0 * * * *",
    timezone: "UTC",
    input: null,
    catchUp: "latest",
    nextRunAt: plus(now, HOUR),
    ifExists: "fail",
    ...overrides,
  };
}

/** Creates a schedule, which must be new; returns it as stored. */
async function create(
  backend: Backend,
  params: CreateScheduleParams,
): Promise<Schedule> {
  const { created, schedule } = await schedules(backend).createSchedule(
    params,
  );
  assert.equal(created, true, `schedule '${params.id}' is created`);
  return schedule;
}

/** Reads schedule `id`, which must exist. */
async function read(backend: Backend, id: string): Promise<Schedule> {
  const schedule = await schedules(backend).getSchedule({ id });
  assert.ok(schedule !== null, `schedule '${id}' exists`);
  return schedule;
}

/** Asserts that `date` is within `[before, after]` (the backend's clock). */
function assertBetween(
  date: Date,
  before: Date,
  after: Date,
  what: string,
): void {
  assert.ok(date instanceof Date, `${what} is a Date`);
  assert.ok(
    before.getTime() <= date.getTime() && date.getTime() <= after.getTime(),
    `${what} ${date.toISOString()} is within ${before.toISOString()} .. ${after.toISOString()}`,
  );
}

/**
 * Asserts that `schedule` is the one `params` stored, unpaused and never
 * fired, made between `before` and `after`.
 */
function assertStored(
  schedule: Schedule,
  params: CreateScheduleParams,
  before: Date,
  after: Date,
): void {
  assertBetween(schedule.createdAt, before, after, "createdAt");
  assertBetween(schedule.updatedAt, before, after, "updatedAt");
  assert.deepEqual(schedule, {
    id: params.id,
    workflowName: params.workflowName,
    version: params.version,
    cron: params.cron,
    timezone: params.timezone,
    input: params.input,
    catchUp: params.catchUp,
    paused: false,
    nextRunAt: params.nextRunAt,
    lastRunAt: null,
    createdAt: schedule.createdAt,
    updatedAt: schedule.updatedAt,
  });
}

/** Asserts that `run` is a new `pending` run made from `params`. */
function assertRunFrom(
  run: WorkflowRun,
  params: CreateWorkflowRunParams,
  before: Date,
  after: Date,
): void {
  assertBetween(run.createdAt, before, after, "the run's createdAt");
  assert.deepEqual(
    {
      workflowName: run.workflowName,
      version: run.version,
      status: run.status,
      config: run.config,
      context: run.context,
      input: run.input,
      idempotencyKey: run.idempotencyKey,
      deadlineAt: run.deadlineAt,
      workerId: run.workerId,
      attempts: run.attempts,
      startedAt: run.startedAt,
      completedAt: run.completedAt,
    },
    {
      workflowName: params.workflowName,
      version: params.version,
      status: "pending",
      config: params.config,
      context: params.context,
      input: params.input,
      idempotencyKey: params.idempotencyKey,
      deadlineAt: params.deadlineAt,
      workerId: null,
      attempts: 0,
      startedAt: null,
      completedAt: null,
    },
  );
}

/** The ids of the namespace's runs, sorted. */
async function runIds(backend: Backend): Promise<string[]> {
  const page = await backend.listWorkflowRuns({ limit: 1000 });
  return page.runs.map((run) => run.id).sort();
}

/** The params of a run that a schedule starts for `slot`, keyed by slot. */
function slotRun(
  scheduleId: string,
  slot: Date,
  overrides: Partial<CreateWorkflowRunParams> = {},
): CreateWorkflowRunParams {
  return runParams("scheduled", {
    context: { scheduleId, slot: slot.toISOString() },
    input: { scheduleId },
    idempotencyKey: `schedule:${scheduleId}:${slot.toISOString()}`,
    ...overrides,
  });
}

/** Inputs a schedule must store verbatim. */
const INPUTS: readonly (JsonValue | null)[] = [
  null,
  0,
  -1.5,
  false,
  true,
  "",
  "text",
  [],
  {},
  [null, { a: [1, { b: null }] }, "x"],
  { text: "héllo 👋", nul: "a\u0000b", lone: "\ud800", nested: { n: null } },
];

/** Ids (and other strings) a backend must store verbatim, never splice. */
const HOSTILE: readonly string[] = [
  "'; DROP TABLE schedules; --",
  '" OR 1=1 --',
  "') OR ('1'='1",
  "%",
  "_",
  "a%b_c\\",
  "$1",
  ":id",
  "?",
  "Robert'); DELETE FROM openworkflow_schedules; --",
  " padded ",
  "line\nbreak\ttab\r",
  "Ünïcödé 日本語 👋🏽",
  "\u00e9", // é, composed
  "e\u0301", // é, decomposed: another id
  "ABC",
  "abc",
  "x".repeat(500),
];

export function scheduleConformance(define: DefineCase): void {
  define(
    "createSchedule() stores a schedule as given; getSchedule() reads it",
    async ({ backend }) => {
      const s = schedules(backend);
      const now = await s.now();
      assert.ok(now instanceof Date, "now() returns a Date");
      assert.ok(!Number.isNaN(now.getTime()), "now() is a valid Date");
      assert.ok(
        Math.abs(now.getTime() - Date.now()) < 60_000,
        "now() is within a minute of this machine's clock",
      );
      const full = scheduleParams("daily-report", now, {
        workflowName: "report",
        version: "v3",
        cron: "30 9 * * 1-5",
        timezone: "Europe/Paris",
        input: { text: "héllo 👋", nested: { list: [null, 1.5, true] } },
        catchUp: "all",
        nextRunAt: new Date(now.getTime() + 2 * HOUR + 123),
      });
      const before = await s.now();
      const result = await s.createSchedule(full);
      const after = await s.now();
      assert.equal(result.created, true);
      assert.deepEqual(Object.keys(result).sort(), ["created", "schedule"]);
      assertStored(result.schedule, full, before, after);
      assert.deepEqual(await s.getSchedule({ id: full.id }), result.schedule);

      for (const [i, input] of INPUTS.entries()) {
        const params = scheduleParams(`input-${i}`, now, {
          input,
          catchUp: (["latest", "none", "all"] as const)[i % 3],
          version: i % 2 === 0 ? null : `v${i}`,
          nextRunAt: plus(now, i * MINUTE),
        });
        const before = await s.now();
        const schedule = await create(backend, params);
        const after = await s.now();
        assertStored(schedule, params, before, after);
        assert.deepEqual(await s.getSchedule({ id: params.id }), schedule);
      }

      // The engine's "no slot left" time is stored too.
      const last = scheduleParams("no-slot-left", now, {
        cron: "0 0 1 1 * 2020",
        nextRunAt: MAX_DATE,
      });
      assert.deepEqual(
        (await read(backend, (await create(backend, last)).id))
          .nextRunAt,
        MAX_DATE,
      );

      for (const id of ["nope", "", "DAILY-REPORT", "daily-report "]) {
        assert.equal(await s.getSchedule({ id }), null, `unknown id '${id}'`);
      }
    },
    ["schedules"],
  );

  define(
    "createSchedule() with ifExists: 'fail' changes nothing for a taken id",
    async ({ backend }) => {
      const s = schedules(backend);
      const now = await s.now();
      const original = await create(
        backend,
        scheduleParams("taken", now, { input: { n: 1 }, version: "v1" }),
      );
      const result = await s.createSchedule(
        scheduleParams("taken", now, {
          workflowName: "other",
          version: null,
          cron: "*/5 * * * *",
          timezone: "America/New_York",
          input: { n: 2 },
          catchUp: "none",
          nextRunAt: plus(now, 5 * MINUTE),
          ifExists: "fail",
        }),
      );
      assert.deepEqual(result, { created: false, schedule: original });
      assert.deepEqual(await s.getSchedule({ id: "taken" }), original);
      assert.deepEqual(await s.listSchedules(), [original]);
    },
    ["schedules"],
  );

  define(
    "createSchedule() with ifExists: 'update' replaces a schedule and keeps its pause and last run",
    async ({ backend }) => {
      const s = schedules(backend);
      const now = await s.now();
      const firstSlot = plus(now, -MINUTE);
      const original = await create(
        backend,
        scheduleParams("upsert", now, {
          workflowName: "old",
          version: "v1",
          input: { old: true },
          catchUp: "all",
          nextRunAt: firstSlot,
        }),
      );
      // Fire it once (lastRunAt), then pause it.
      const nextSlot = plus(now, HOUR);
      assert.deepEqual(
        await s.fireSchedule({
          id: "upsert",
          expectedNextRunAt: firstSlot,
          nextRunAt: nextSlot,
          lastRunAt: firstSlot,
          runs: [],
        }),
        [],
      );
      const paused = await s.updateSchedule({ id: "upsert", paused: true });
      assert.equal(paused?.paused, true);

      // Same expression and zone: nextRunAt is kept.
      let before = await s.now();
      let result = await s.createSchedule(
        scheduleParams("upsert", now, {
          workflowName: "new",
          version: "v2",
          input: [{ new: "yes" }, null],
          catchUp: "none",
          nextRunAt: plus(now, 7 * MINUTE),
          ifExists: "update",
        }),
      );
      let after = await s.now();
      assert.equal(result.created, false);
      assertBetween(result.schedule.updatedAt, before, after, "updatedAt");
      assert.deepEqual(result.schedule, {
        ...original,
        workflowName: "new",
        version: "v2",
        input: [{ new: "yes" }, null],
        catchUp: "none",
        paused: true,
        nextRunAt: nextSlot,
        lastRunAt: firstSlot,
        updatedAt: result.schedule.updatedAt,
      });
      assert.deepEqual(await s.getSchedule({ id: "upsert" }), result.schedule);

      // Another expression: nextRunAt is the one given; null replaces.
      const cronSlot = plus(now, 13 * MINUTE);
      before = await s.now();
      result = await s.createSchedule(
        scheduleParams("upsert", now, {
          workflowName: "newer",
          version: null,
          cron: "*/13 * * * *",
          input: null,
          catchUp: "latest",
          nextRunAt: cronSlot,
          ifExists: "update",
        }),
      );
      after = await s.now();
      assert.equal(result.created, false);
      assertBetween(result.schedule.updatedAt, before, after, "updatedAt");
      assert.deepEqual(result.schedule, {
        ...original,
        workflowName: "newer",
        version: null,
        cron: "*/13 * * * *",
        input: null,
        catchUp: "latest",
        paused: true,
        nextRunAt: cronSlot,
        lastRunAt: firstSlot,
        updatedAt: result.schedule.updatedAt,
      });
      assert.deepEqual(await s.getSchedule({ id: "upsert" }), result.schedule);

      // Another zone, same expression: nextRunAt is the one given.
      const zoneSlot = plus(now, 17 * MINUTE);
      result = await s.createSchedule(
        scheduleParams("upsert", now, {
          workflowName: "newer",
          version: null,
          cron: "*/13 * * * *",
          timezone: "Asia/Kolkata",
          input: null,
          catchUp: "latest",
          nextRunAt: zoneSlot,
          ifExists: "update",
        }),
      );
      assert.equal(result.created, false);
      assert.deepEqual(result.schedule, {
        ...original,
        workflowName: "newer",
        version: null,
        cron: "*/13 * * * *",
        timezone: "Asia/Kolkata",
        input: null,
        catchUp: "latest",
        paused: true,
        nextRunAt: zoneSlot,
        lastRunAt: firstSlot,
        updatedAt: result.schedule.updatedAt,
      });
      assert.deepEqual(await s.getSchedule({ id: "upsert" }), result.schedule);

      // A free id is created, as with "fail".
      const fresh = scheduleParams("fresh", now, { ifExists: "update" });
      before = await s.now();
      const created = await s.createSchedule(fresh);
      after = await s.now();
      assert.equal(created.created, true);
      assertStored(created.schedule, fresh, before, after);
      assert.deepEqual(
        (await s.listSchedules()).map((schedule) => schedule.id),
        ["fresh", "upsert"],
      );
    },
    ["schedules"],
  );

  define(
    "listSchedules() lists the namespace's schedules by id",
    async ({ backend }) => {
      const s = schedules(backend);
      assert.deepEqual(await s.listSchedules(), []);
      const now = await s.now();
      for (const id of ["c-3", "a-1", "b-2"]) {
        await create(backend, scheduleParams(id, now, { workflowName: id }));
      }
      await s.updateSchedule({ id: "b-2", paused: true });
      const listed = await s.listSchedules();
      assert.deepEqual(listed.map((schedule) => schedule.id), [
        "a-1",
        "b-2",
        "c-3",
      ]);
      assert.deepEqual(listed, [
        await read(backend, "a-1"),
        await read(backend, "b-2"),
        await read(backend, "c-3"),
      ]);
      assert.equal(listed[1].paused, true);
    },
    ["schedules"],
  );

  define(
    "updateSchedule() pauses and resumes a schedule; null for an unknown id",
    async ({ backend }) => {
      const s = schedules(backend);
      const now = await s.now();
      const slot = plus(now, HOUR);
      const original = await create(
        backend,
        scheduleParams("pausable", now, { nextRunAt: slot, input: [1] }),
      );

      let before = await s.now();
      let updated = await s.updateSchedule({ id: "pausable", paused: true });
      let after = await s.now();
      assert.ok(updated !== null);
      assertBetween(updated.updatedAt, before, after, "updatedAt");
      assert.deepEqual(updated, {
        ...original,
        paused: true,
        updatedAt: updated.updatedAt,
      });
      assert.deepEqual(await s.getSchedule({ id: "pausable" }), updated);

      // Pausing again is harmless.
      updated = await s.updateSchedule({ id: "pausable", paused: true });
      assert.deepEqual(updated, {
        ...original,
        paused: true,
        updatedAt: updated?.updatedAt,
      });

      // Resumed without nextRunAt: it is kept.
      updated = await s.updateSchedule({ id: "pausable", paused: false });
      assert.deepEqual(updated, {
        ...original,
        paused: false,
        updatedAt: updated?.updatedAt,
      });

      // Paused, then resumed with nextRunAt: it is set.
      await s.updateSchedule({ id: "pausable", paused: true });
      const resumedAt = plus(now, 2 * HOUR + 5);
      before = await s.now();
      updated = await s.updateSchedule({
        id: "pausable",
        paused: false,
        nextRunAt: resumedAt,
      });
      after = await s.now();
      assert.ok(updated !== null);
      assertBetween(updated.updatedAt, before, after, "updatedAt");
      assert.deepEqual(updated, {
        ...original,
        paused: false,
        nextRunAt: resumedAt,
        updatedAt: updated.updatedAt,
      });
      assert.deepEqual(await s.getSchedule({ id: "pausable" }), updated);

      // Paused with nextRunAt: both are set.
      const pausedAt = plus(now, 3 * HOUR);
      updated = await s.updateSchedule({
        id: "pausable",
        paused: true,
        nextRunAt: pausedAt,
      });
      assert.deepEqual(updated, {
        ...original,
        paused: true,
        nextRunAt: pausedAt,
        updatedAt: updated?.updatedAt,
      });

      for (const id of ["nope", "", "PAUSABLE"]) {
        for (const paused of [true, false]) {
          assert.equal(
            await s.updateSchedule({ id, paused, nextRunAt: slot }),
            null,
            `unknown id '${id}'`,
          );
        }
        assert.equal(await s.getSchedule({ id }), null, "nothing is created");
      }
      assert.equal((await s.listSchedules()).length, 1);
    },
    ["schedules"],
  );

  define(
    "deleteSchedule() deletes a schedule once; the runs it started stay",
    async ({ backend }) => {
      const s = schedules(backend);
      const now = await s.now();
      const slot = plus(now, -MINUTE);
      await create(backend, scheduleParams("doomed", now, { nextRunAt: slot }));
      const kept = await create(backend, scheduleParams("kept", now));
      const runs = await s.fireSchedule({
        id: "doomed",
        expectedNextRunAt: slot,
        nextRunAt: plus(now, HOUR),
        lastRunAt: slot,
        runs: [slotRun("doomed", slot)],
      });
      assert.equal(runs?.length, 1);
      const [run] = runs!;

      assert.equal(await s.deleteSchedule({ id: "doomed" }), true);
      assert.equal(await s.getSchedule({ id: "doomed" }), null);
      assert.equal(await s.deleteSchedule({ id: "doomed" }), false);
      for (const id of ["nope", "", "KEPT"]) {
        assert.equal(await s.deleteSchedule({ id }), false, `unknown '${id}'`);
      }
      assert.deepEqual(await s.listSchedules(), [kept]);
      assert.deepEqual(
        await backend.getWorkflowRun({ workflowRunId: run.id }),
        run,
      );

      // A deleted schedule fires no more, and its id is free again.
      assert.equal(
        await s.fireSchedule({
          id: "doomed",
          expectedNextRunAt: plus(now, HOUR),
          nextRunAt: plus(now, 2 * HOUR),
          lastRunAt: null,
          runs: [runParams("after-delete")],
        }),
        null,
      );
      assert.deepEqual(await runIds(backend), [run.id]);
      const params = scheduleParams("doomed", now, { workflowName: "again" });
      const before = await s.now();
      const again = await create(backend, params);
      assertStored(again, params, before, await s.now());
    },
    ["schedules"],
  );

  define(
    "listDueSchedules() returns the unpaused due schedules, earliest first, by the backend's clock",
    async ({ backend }) => {
      const s = schedules(backend);
      let before = await s.now();
      let due = await s.listDueSchedules({ limit: 10 });
      let after = await s.now();
      assertBetween(due.now, before, after, "now");
      assert.deepEqual(due, { schedules: [], now: due.now, nextDueAt: null });

      const now = await s.now();
      const at = (id: string, ms: number, paused = false) => ({
        id,
        ms,
        paused,
      });
      for (
        const { id, ms, paused } of [
          at("due-late", -10_000),
          at("due-paused", -3 * MINUTE, true),
          at("due-early", -2 * MINUTE),
          at("future-far", 2 * HOUR),
          at("future-paused", 30 * MINUTE, true),
          at("future-near", HOUR),
          at("made-due", HOUR),
        ]
      ) {
        await create(
          backend,
          scheduleParams(id, now, { nextRunAt: plus(now, ms) }),
        );
        if (paused) await s.updateSchedule({ id, paused: true });
      }
      // Made due by a resume with a past slot.
      await s.updateSchedule({ id: "made-due", paused: true });
      await s.updateSchedule({
        id: "made-due",
        paused: false,
        nextRunAt: plus(now, -MINUTE),
      });

      before = await s.now();
      due = await s.listDueSchedules({ limit: 10 });
      after = await s.now();
      assertBetween(due.now, before, after, "now");
      assert.deepEqual(due, {
        schedules: [
          await read(backend, "due-early"),
          await read(backend, "made-due"),
          await read(backend, "due-late"),
        ],
        now: due.now,
        nextDueAt: plus(now, HOUR),
      });

      due = await s.listDueSchedules({ limit: 2 });
      assert.deepEqual(due.schedules.map((schedule) => schedule.id), [
        "due-early",
        "made-due",
      ]);
      assert.deepEqual(due.nextDueAt, plus(now, HOUR));
      due = await s.listDueSchedules({ limit: 1 });
      assert.deepEqual(due.schedules.map((schedule) => schedule.id), [
        "due-early",
      ]);

      // Paused schedules are neither due nor next.
      await s.updateSchedule({ id: "due-early", paused: true });
      await s.updateSchedule({ id: "future-near", paused: true });
      due = await s.listDueSchedules({ limit: 10 });
      assert.deepEqual(due.schedules.map((schedule) => schedule.id), [
        "made-due",
        "due-late",
      ]);
      assert.deepEqual(due.nextDueAt, plus(now, 2 * HOUR));
      await s.updateSchedule({ id: "future-far", paused: true });
      due = await s.listDueSchedules({ limit: 10 });
      assert.equal(due.nextDueAt, null);

      // A resumed one counts again; a deleted one no more.
      await s.updateSchedule({ id: "future-paused", paused: false });
      assert.deepEqual(
        (await s.listDueSchedules({ limit: 10 })).nextDueAt,
        plus(now, 30 * MINUTE),
      );
      await s.deleteSchedule({ id: "made-due" });
      await s.deleteSchedule({ id: "future-paused" });
      due = await s.listDueSchedules({ limit: 10 });
      assert.deepEqual(due.schedules.map((schedule) => schedule.id), [
        "due-late",
      ]);
      assert.equal(due.nextDueAt, null);
    },
    ["schedules"],
  );

  define(
    "fireSchedule() moves a schedule on and creates its runs in one write",
    async ({ backend }) => {
      const s = schedules(backend);
      const now = await s.now();
      const slot1 = plus(now, -MINUTE);
      const slot2 = plus(now, HOUR);
      const slot3 = plus(now, 2 * HOUR);
      const original = await create(
        backend,
        scheduleParams("hourly", now, { nextRunAt: slot1, input: { a: 1 } }),
      );
      const keyed = slotRun("hourly", slot1, {
        version: "v7",
        config: { retries: [1, 2] },
        input: { text: "héllo 👋", nul: "a\u0000b", nested: [null, 1.5] },
        deadlineAt: plus(now, 5 * HOUR),
      });
      const unkeyed = runParams("by-hand", {
        context: { scheduleId: "hourly", slot: null },
      });

      let before = await s.now();
      const fired = await s.fireSchedule({
        id: "hourly",
        expectedNextRunAt: slot1,
        nextRunAt: slot2,
        lastRunAt: slot1,
        runs: [keyed, unkeyed],
      });
      let after = await s.now();
      assert.ok(fired !== null, "the schedule fired");
      assert.equal(fired.length, 2);
      assertRunFrom(fired[0], keyed, before, after);
      assertRunFrom(fired[1], unkeyed, before, after);
      assert.notEqual(fired[0].id, fired[1].id);
      for (const run of fired) {
        assert.deepEqual(
          await backend.getWorkflowRun({ workflowRunId: run.id }),
          run,
        );
        assert.ok(run.availableAt.getTime() <= after.getTime());
      }
      const afterFire = await read(backend, "hourly");
      assertBetween(afterFire.updatedAt, before, after, "updatedAt");
      assert.deepEqual(afterFire, {
        ...original,
        nextRunAt: slot2,
        lastRunAt: slot1,
        updatedAt: afterFire.updatedAt,
      });
      const created = fired.map((run) => run.id).sort();
      assert.deepEqual(await runIds(backend), created);

      // A stale compare-and-set (the slot already fired) changes nothing.
      assert.equal(
        await s.fireSchedule({
          id: "hourly",
          expectedNextRunAt: slot1,
          nextRunAt: slot3,
          lastRunAt: slot2,
          runs: [runParams("stale"), slotRun("hourly", slot2)],
        }),
        null,
      );
      // One that never was the schedule's nextRunAt neither.
      assert.equal(
        await s.fireSchedule({
          id: "hourly",
          expectedNextRunAt: plus(slot2, 1),
          nextRunAt: slot3,
          lastRunAt: slot2,
          runs: [runParams("stale")],
        }),
        null,
      );
      assert.deepEqual(await s.getSchedule({ id: "hourly" }), afterFire);
      assert.deepEqual(await runIds(backend), created);

      // No runs, and lastRunAt null keeps the last run.
      before = await s.now();
      assert.deepEqual(
        await s.fireSchedule({
          id: "hourly",
          expectedNextRunAt: slot2,
          nextRunAt: slot3,
          lastRunAt: null,
          runs: [],
        }),
        [],
      );
      after = await s.now();
      const skipped = await read(backend, "hourly");
      assertBetween(skipped.updatedAt, before, after, "updatedAt");
      assert.deepEqual(skipped, {
        ...original,
        nextRunAt: slot3,
        lastRunAt: slot1,
        updatedAt: skipped.updatedAt,
      });
      assert.deepEqual(await runIds(backend), created);

      // A run whose idempotency key is taken is the existing one, unchanged,
      // also when another schedule's write brings it; the others are new.
      await create(
        backend,
        scheduleParams("twin", now, { nextRunAt: plus(now, -2 * MINUTE) }),
      );
      const fresh = slotRun("twin", slot1);
      before = await s.now();
      const twin = await s.fireSchedule({
        id: "twin",
        expectedNextRunAt: plus(now, -2 * MINUTE),
        nextRunAt: slot2,
        lastRunAt: slot1,
        runs: [{ ...keyed, input: "ignored" }, fresh],
      });
      after = await s.now();
      assert.ok(twin !== null, "the twin fired");
      assert.equal(twin.length, 2);
      assert.deepEqual(twin[0], fired[0]);
      assertRunFrom(twin[1], fresh, before, after);
      assert.deepEqual(
        await runIds(backend),
        [...created, twin[1].id].sort(),
      );
      assert.deepEqual((await read(backend, "twin")).nextRunAt, slot2);

      // Within one write too, as createWorkflowRun() one after another.
      const slot4 = plus(now, 3 * HOUR);
      const dup = slotRun("hourly", slot3);
      const batch = await s.fireSchedule({
        id: "hourly",
        expectedNextRunAt: slot3,
        nextRunAt: slot4,
        lastRunAt: slot3,
        runs: [dup, { ...dup, input: "second" }, keyed],
      });
      assert.ok(batch !== null, "the batch fired");
      assert.equal(batch.length, 3);
      assert.deepEqual(batch[1], batch[0]);
      assert.deepEqual(batch[0].input, dup.input);
      assert.deepEqual(batch[2], fired[0]);
      created.push(batch[0].id);

      // And on the same schedule's next slot.
      const again = await s.fireSchedule({
        id: "hourly",
        expectedNextRunAt: slot4,
        nextRunAt: plus(now, 4 * HOUR),
        lastRunAt: slot4,
        runs: [keyed],
      });
      assert.deepEqual(again, [fired[0]]);
      assert.deepEqual(
        await runIds(backend),
        [...created, twin[1].id].sort(),
      );
    },
    ["schedules"],
  );

  define(
    "fireSchedule() returns null for a paused or unknown schedule and creates nothing",
    async ({ backend }) => {
      const s = schedules(backend);
      const now = await s.now();
      const slot = plus(now, -MINUTE);
      await create(backend, scheduleParams("held", now, { nextRunAt: slot }));
      const paused = await s.updateSchedule({ id: "held", paused: true });
      const fire = (id: string) =>
        s.fireSchedule({
          id,
          expectedNextRunAt: slot,
          nextRunAt: plus(now, HOUR),
          lastRunAt: slot,
          runs: [slotRun(id, slot), runParams("unkeyed")],
        });
      assert.equal(await fire("held"), null);
      assert.deepEqual(await s.getSchedule({ id: "held" }), paused);
      for (const id of ["nope", "", "HELD"]) {
        assert.equal(await fire(id), null, `unknown id '${id}'`);
      }
      assert.deepEqual(await runIds(backend), []);

      // Resumed (its nextRunAt kept), it fires.
      await s.updateSchedule({ id: "held", paused: false });
      const runs = await fire("held");
      assert.equal(runs?.length, 2);
      assert.deepEqual(
        await runIds(backend),
        runs!.map((run) => run.id).sort(),
      );
    },
    ["schedules"],
  );

  define(
    "fireSchedule() from several backends at once fires each slot once",
    async ({ backend, namespaceId, connect }) => {
      const s = schedules(backend);
      const other = await connect(namespaceId);
      const now = await s.now();
      let slot = plus(now, -HOUR);
      await create(
        backend,
        scheduleParams("contended", now, { nextRunAt: slot }),
      );
      const created: string[] = [];
      for (let round = 0; round < 5; round++) {
        const next = plus(slot, MINUTE);
        const attempts = [backend, other, backend, other].map((b, i) =>
          schedules(b).fireSchedule({
            id: "contended",
            expectedNextRunAt: slot,
            nextRunAt: next,
            lastRunAt: slot,
            runs: [
              slotRun("contended", slot),
              runParams(`unkeyed-${round}`, { input: i }),
            ],
          })
        );
        const results = await Promise.all(attempts);
        const won = results.filter((result) => result !== null);
        assert.equal(won.length, 1, `round ${round}: exactly one fires`);
        assert.equal(won[0].length, 2);
        created.push(...won[0].map((run) => run.id));
        assert.deepEqual(await runIds(other), [...created].sort());
        const schedule = await read(other, "contended");
        assert.deepEqual(
          [schedule.nextRunAt, schedule.lastRunAt],
          [next, slot],
        );
        slot = next;
      }
    },
    ["schedules", "sharedStore"],
  );

  define(
    "createSchedule() from several backends at once creates a schedule once",
    async ({ backend, namespaceId, connect }) => {
      const other = await connect(namespaceId);
      const now = await schedules(backend).now();
      for (const ifExists of ["fail", "update"] as const) {
        const id = `raced-${ifExists}`;
        const results = await Promise.all(
          [backend, other, backend, other].map((b, i) =>
            schedules(b).createSchedule(
              scheduleParams(id, now, { workflowName: `wf-${i}`, ifExists }),
            )
          ),
        );
        assert.equal(
          results.filter((result) => result.created).length,
          1,
          `ifExists: '${ifExists}': exactly one creates it`,
        );
        const stored = await read(other, id);
        const names = results.map((result) => result.schedule.workflowName);
        assert.ok(names.includes(stored.workflowName));
        if (ifExists === "fail") {
          for (const result of results) {
            assert.deepEqual(result.schedule, stored);
          }
        }
      }
      assert.equal((await schedules(other).listSchedules()).length, 2);
    },
    ["schedules", "sharedStore"],
  );

  define(
    "namespaces isolate schedules",
    async ({ backend, connect }) => {
      const mine = schedules(backend);
      const other = await connect(randomNamespace());
      const theirs = schedules(other);
      const now = await mine.now();
      const slot = plus(now, -MINUTE);
      const myShared = await create(
        backend,
        scheduleParams("shared", now, {
          workflowName: "mine",
          nextRunAt: slot,
        }),
      );
      const myOwn = await create(
        backend,
        scheduleParams("only-mine", now, { nextRunAt: plus(now, HOUR) }),
      );
      // The same id in the other namespace is another schedule.
      const theirShared = await create(
        other,
        scheduleParams("shared", now, {
          workflowName: "theirs",
          input: "theirs",
          nextRunAt: plus(now, 2 * HOUR),
        }),
      );
      assert.deepEqual(await mine.getSchedule({ id: "shared" }), myShared);
      assert.deepEqual(await theirs.getSchedule({ id: "shared" }), theirShared);
      assert.equal(await theirs.getSchedule({ id: "only-mine" }), null);
      assert.deepEqual(await mine.listSchedules(), [myOwn, myShared]);
      assert.deepEqual(await theirs.listSchedules(), [theirShared]);

      // Due schedules and the next due time are the namespace's own.
      let due = await theirs.listDueSchedules({ limit: 10 });
      assert.deepEqual(
        [due.schedules, due.nextDueAt],
        [[], plus(now, 2 * HOUR)],
      );
      due = await mine.listDueSchedules({ limit: 10 });
      assert.deepEqual(
        [due.schedules, due.nextDueAt],
        [[myShared], plus(now, HOUR)],
      );

      // Writes from the other namespace find nothing of this one.
      assert.equal(
        await theirs.updateSchedule({ id: "only-mine", paused: true }),
        null,
      );
      assert.equal(await theirs.deleteSchedule({ id: "only-mine" }), false);
      assert.equal(
        await theirs.fireSchedule({
          id: "shared",
          expectedNextRunAt: slot,
          nextRunAt: plus(now, HOUR),
          lastRunAt: slot,
          runs: [runParams("theirs")],
        }),
        null,
      );
      assert.deepEqual(
        await theirs.createSchedule(
          scheduleParams("shared", now, {
            workflowName: "x",
            ifExists: "fail",
          }),
        ),
        { created: false, schedule: theirShared },
      );
      const updated = await theirs.createSchedule(
        scheduleParams("shared", now, {
          workflowName: "updated",
          ifExists: "update",
          nextRunAt: plus(now, 2 * HOUR),
        }),
      );
      assert.equal(updated.schedule.workflowName, "updated");
      await theirs.updateSchedule({ id: "shared", paused: true });
      assert.deepEqual(await mine.listSchedules(), [myOwn, myShared]);
      assert.deepEqual(await runIds(backend), []);
      assert.deepEqual(await runIds(other), []);

      // A slot's idempotency key is the namespace's own too.
      const key = slotRun("shared", slot);
      const [myRun] = (await mine.fireSchedule({
        id: "shared",
        expectedNextRunAt: slot,
        nextRunAt: plus(now, HOUR),
        lastRunAt: slot,
        runs: [key],
      }))!;
      await theirs.updateSchedule({
        id: "shared",
        paused: false,
        nextRunAt: slot,
      });
      const [theirRun] = (await theirs.fireSchedule({
        id: "shared",
        expectedNextRunAt: slot,
        nextRunAt: plus(now, HOUR),
        lastRunAt: slot,
        runs: [key],
      }))!;
      assert.notEqual(myRun.id, theirRun.id);
      assert.deepEqual(await runIds(backend), [myRun.id]);
      assert.deepEqual(await runIds(other), [theirRun.id]);

      // Deleting theirs leaves mine.
      assert.equal(await theirs.deleteSchedule({ id: "shared" }), true);
      assert.equal(await theirs.getSchedule({ id: "shared" }), null);
      assert.equal((await mine.getSchedule({ id: "shared" }))?.id, "shared");
    },
    ["schedules", "sharedStore"],
  );

  define(
    "schedule ids and strings are stored verbatim, never spliced into a query",
    async ({ backend }) => {
      const s = schedules(backend);
      const now = await s.now();
      const stored = new Map<string, Schedule>();
      for (const [i, id] of HOSTILE.entries()) {
        const params = scheduleParams(id, now, {
          workflowName: id,
          version: id,
          cron: id,
          timezone: id,
          input: { id, [id]: [id] },
          nextRunAt: plus(now, -(i + 1) * 1_000),
        });
        const before = await s.now();
        const schedule = await create(backend, params);
        assertStored(schedule, params, before, await s.now());
        stored.set(id, schedule);
      }
      for (const [id, schedule] of stored) {
        assert.deepEqual(await s.getSchedule({ id }), schedule, `'${id}'`);
      }
      // Every one is its own (é composed and decomposed, ABC and abc), and
      // listed once.
      const listed = await s.listSchedules();
      assert.equal(listed.length, HOSTILE.length);
      assert.deepEqual(
        new Map(listed.map((schedule) => [schedule.id, schedule])),
        stored,
      );
      // Due ones are listed by nextRunAt: the last created first.
      assert.deepEqual(
        (await s.listDueSchedules({ limit: 100 })).schedules.map((schedule) =>
          schedule.id
        ),
        [...HOSTILE].reverse(),
      );

      // Every method takes them as ids.
      for (const [i, id] of HOSTILE.entries()) {
        const slot = plus(now, -(i + 1) * 1_000);
        const runs = await s.fireSchedule({
          id,
          expectedNextRunAt: slot,
          nextRunAt: plus(now, HOUR),
          lastRunAt: slot,
          runs: [slotRun(id, slot, { workflowName: id })],
        });
        assert.equal(runs?.length, 1, `'${id}' fired`);
        assert.equal(
          runs![0].idempotencyKey,
          `schedule:${id}:${slot.toISOString()}`,
        );
        const paused = await s.updateSchedule({ id, paused: true });
        assert.deepEqual(
          [paused?.id, paused?.paused, paused?.lastRunAt],
          [id, true, slot],
        );
      }
      // LIKE patterns match themselves only: deleting "%" leaves the rest.
      for (const id of HOSTILE) {
        assert.equal(await s.deleteSchedule({ id }), true, `'${id}' deleted`);
        assert.equal(await s.getSchedule({ id }), null);
      }
      assert.deepEqual(await s.listSchedules(), []);
      assert.equal((await runIds(backend)).length, HOSTILE.length);
    },
    ["schedules"],
  );
}
