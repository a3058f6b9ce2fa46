/**
 * What each CLI command does, given its parsed options, a client on the
 * backend it names, and where to write.
 *
 * @module
 */

import {
  type Backend,
  RUN_STATUSES,
  TERMINAL_STATUSES,
  type WorkflowRun,
} from "../core/backend.ts";
import { parseDuration } from "../core/duration.ts";
import { OpenWorkflow } from "../client/client.ts";
import type { FinishedStatus } from "../worker/retention.ts";
import { Worker } from "../worker/worker.ts";
import { loadWorkflows } from "./load.ts";
import {
  colorStatus,
  CommandError,
  duration,
  errorLine,
  type Io,
  json,
  stylesFor,
  table,
  time,
  UsageError,
} from "./output.ts";

/** The options every command may be given, parsed. */
export interface Values {
  [name: string]: string | boolean | string[] | undefined;
  json?: boolean;
}

/** What a command runs with. */
export interface CommandContext {
  io: Io;
  values: Values;
  positionals: string[];
  /** The command's usage, for usage errors found while it runs. */
  usage: string;
  /** Connects to the backend the options name (once). */
  backend(): Promise<Backend>;
  /** Resolves when the process is asked to stop (SIGINT, SIGTERM). */
  stopRequested: Promise<string>;
}

/** A client on the command's backend. */
async function client(context: CommandContext): Promise<OpenWorkflow> {
  return new OpenWorkflow({ backend: await context.backend() });
}

/**
 * `--status` values (repeated or comma-separated), each one of `allowed`.
 *
 * @throws {UsageError} naming a value that is not.
 */
function statusList(
  context: CommandContext,
  allowed: readonly string[],
): string[] | undefined {
  const value = context.values.status;
  if (value === undefined || typeof value === "boolean") return undefined;
  const list = (Array.isArray(value) ? value : [value]).flatMap((v) =>
    v.split(",")
  ).map((v) => v.trim()).filter((v) => v !== "");
  for (const status of list) {
    if (!allowed.includes(status)) {
      throw new UsageError(
        `--status must be one of ${allowed.join(", ")}, received ${status}`,
        context.usage,
      );
    }
  }
  return list.length === 0 ? undefined : list;
}

/** A run as one table row. */
function runRow(context: CommandContext, run: WorkflowRun): string[] {
  const styles = stylesFor(context.io);
  return [
    run.id,
    run.workflowName + (run.version === null ? "" : `@${run.version}`),
    colorStatus(styles, run.status),
    time(run.createdAt),
    time(run.completedAt),
  ];
}

/** `runs list` */
export async function runsList(context: CommandContext): Promise<void> {
  const ow = await client(context);
  const { values } = context;
  const page = await ow.listRuns({
    status: statusList(context, RUN_STATUSES) as
      | WorkflowRun["status"][]
      | undefined,
    workflowName: values.workflow as string | undefined,
    limit: values.limit === undefined
      ? undefined
      : integer(values.limit as string, "--limit"),
  });
  if (values.json) {
    context.io.out(json(page));
    return;
  }
  if (page.runs.length === 0) {
    context.io.out("No runs.\n");
    return;
  }
  context.io.out(table(
    stylesFor(context.io),
    ["ID", "WORKFLOW", "STATUS", "CREATED", "FINISHED"],
    page.runs.map((run) => runRow(context, run)),
  ));
  if (page.nextCursor !== null) {
    context.io.out(`… more: raise --limit to see them\n`);
  }
}

/** An integer option, or a usage-level failure naming it. */
function integer(value: string, option: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) {
    throw new CommandError(`${option} must be an integer, received ${value}`);
  }
  return n;
}

/** `runs show ID`: the run, its steps as a timeline, its children. */
export async function runsShow(context: CommandContext): Promise<void> {
  const ow = await client(context);
  const [id] = context.positionals;
  const handle = await ow.getRun(id);
  if (handle === null) throw new CommandError(`No run ${id}`);
  const run = handle.workflowRun;
  const steps = await handle.listStepAttempts();
  const children = (await ow.listRuns({
    parentWorkflowRunId: run.id,
    limit: 1000,
  })).runs;
  if (context.values.json) {
    context.io.out(json({ run, steps, children }));
    return;
  }
  const styles = stylesFor(context.io);
  const fields: [string, string][] = [
    ["id", run.id],
    ["workflow", run.workflowName],
    ["version", run.version ?? "-"],
    ["status", colorStatus(styles, run.status)],
    ["created", time(run.createdAt)],
    ["started", time(run.startedAt)],
    ["finished", time(run.completedAt)],
    [
      "took",
      run.completedAt === null || run.startedAt === null
        ? "-"
        : duration(run.completedAt.getTime() - run.startedAt.getTime()),
    ],
    ["attempts", String(run.attempts)],
    ["worker", run.workerId ?? "-"],
    ["parent", run.parentWorkflowRunId ?? "-"],
    ["forked from", run.forkedFromWorkflowRunId ?? "-"],
    ["input", JSON.stringify(run.input)],
  ];
  if (run.status === "succeeded") {
    fields.push(["output", JSON.stringify(run.output)]);
  }
  if (run.error !== null) fields.push(["error", errorLine(run.error)]);
  const pad = Math.max(...fields.map(([k]) => k.length));
  context.io.out(
    fields.map(([k, v]) => `${styles.bold(k.padEnd(pad))}  ${v}`).join(
      "\n",
    ) + "\n",
  );
  context.io.out(`\n${styles.bold("Steps")}\n`);
  if (steps.length === 0) context.io.out("No steps.\n");
  else {
    const start = steps[0].createdAt.getTime();
    context.io.out(table(
      styles,
      ["AT", "STEP", "KIND", "STATUS", "TOOK", "ERROR"],
      steps.map((step) => [
        `+${duration(step.createdAt.getTime() - start)}`,
        step.stepName,
        step.kind,
        colorStatus(styles, step.status),
        step.completedAt === null
          ? "-"
          : duration(step.completedAt.getTime() - step.createdAt.getTime()),
        step.error === null ? "" : errorLine(step.error),
      ]),
    ));
  }
  if (children.length > 0) {
    context.io.out(`\n${styles.bold("Children")}\n`);
    context.io.out(table(
      styles,
      ["ID", "WORKFLOW", "STATUS", "CREATED", "FINISHED"],
      children.map((child) => runRow(context, child)),
    ));
  }
}

/** `runs cancel ID [--compensate]` */
export async function runsCancel(context: CommandContext): Promise<void> {
  const ow = await client(context);
  const [id] = context.positionals;
  const compensate = context.values.compensate === true;
  const run = await ow.cancelRun(id, { compensate });
  if (compensate && !TERMINAL_STATUSES.includes(run.status)) {
    report(
      context,
      run,
      `Canceling run ${run.id}: a worker runs its compensations, then it is canceled`,
    );
    return;
  }
  if (run.status !== "canceled") {
    throw new CommandError(
      `Run ${run.id} has finished (${run.status}); nothing was canceled`,
    );
  }
  report(context, run, `Canceled run ${run.id}`);
}

/** `runs retry ID` */
export async function runsRetry(context: CommandContext): Promise<void> {
  const ow = await client(context);
  const handle = await ow.retryRun(context.positionals[0]);
  report(
    context,
    handle.workflowRun,
    `Retrying run ${handle.id} (${handle.workflowRun.status})`,
  );
}

/** `runs fork ID [--from-step NAME]` */
export async function runsFork(context: CommandContext): Promise<void> {
  const ow = await client(context);
  const fromStep = context.values["from-step"] as string | undefined;
  const handle = await ow.forkRun(context.positionals[0], { fromStep });
  report(
    context,
    handle.workflowRun,
    `Forked run ${context.positionals[0]} as ${handle.id}${
      fromStep === undefined ? "" : ` from step '${fromStep}'`
    }`,
  );
}

/** Prints a changed run: a line for people, the run for scripts. */
function report(context: CommandContext, run: WorkflowRun, line: string) {
  context.io.out(context.values.json ? json(run) : `${line}\n`);
}

/**
 * A `--finished-before` value: a duration ago (`7d`, `12h`), or a date
 * (ISO 8601).
 */
export function finishedBefore(value: string, now: number): Date {
  try {
    return new Date(now - parseDuration(value, "--finished-before"));
  } catch {
    const date = new Date(value);
    if (Number.isNaN(date.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(value)) {
      throw new CommandError(
        `--finished-before must be a duration such as 7d or a date such as 2026-01-31, received ${value}`,
      );
    }
    return date;
  }
}

/** `runs delete --finished-before DURATION|DATE [--status S]` */
export async function runsDelete(context: CommandContext): Promise<void> {
  const ow = await client(context);
  const backend = await context.backend();
  const now = (await backend.now?.())?.getTime() ?? Date.now();
  const before = finishedBefore(
    context.values["finished-before"] as string,
    now,
  );
  const { io } = context;
  const progress = io.isTty && !context.values.json;
  const deleted = await ow.deleteRuns({
    finishedBefore: before,
    status: statusList(context, TERMINAL_STATUSES) as
      | FinishedStatus[]
      | undefined,
    workflowName: context.values.workflow as string | undefined,
    onProgress: progress
      ? (n) => io.err(`\rDeleting finished runs… ${n}`)
      : undefined,
  });
  if (progress && deleted > 0) io.err("\n");
  io.out(
    context.values.json
      ? json({ deleted, finishedBefore: before })
      : `Deleted ${deleted} finished run${
        deleted === 1 ? "" : "s"
      } (finished before ${time(before)})\n`,
  );
}

/** `schedules list` */
export async function schedulesList(context: CommandContext): Promise<void> {
  const ow = await client(context);
  const schedules = await ow.listSchedules();
  if (context.values.json) {
    context.io.out(json(schedules));
    return;
  }
  if (schedules.length === 0) {
    context.io.out("No schedules.\n");
    return;
  }
  const styles = stylesFor(context.io);
  context.io.out(table(
    styles,
    ["ID", "WORKFLOW", "CRON", "TIMEZONE", "STATE", "NEXT", "LAST"],
    schedules.map((s) => [
      s.id,
      s.workflowName,
      s.cron,
      s.timezone,
      s.paused ? styles.yellow("paused") : "active",
      s.paused ? "-" : time(s.nextRunAt),
      time(s.lastRunAt),
    ]),
  ));
}

/** `schedules pause|resume|delete|trigger ID` */
export async function schedulesAct(
  context: CommandContext,
  action: "pause" | "resume" | "delete" | "trigger",
): Promise<void> {
  const ow = await client(context);
  const [id] = context.positionals;
  const out = (line: string, value: unknown) =>
    context.io.out(context.values.json ? json(value) : `${line}\n`);
  switch (action) {
    case "pause":
      return out(`Paused schedule ${id}`, await ow.pauseSchedule(id));
    case "resume":
      return out(`Resumed schedule ${id}`, await ow.resumeSchedule(id));
    case "delete":
      if (!await ow.deleteSchedule(id)) {
        throw new CommandError(`No schedule ${id}`);
      }
      return out(`Deleted schedule ${id}`, { deleted: id });
    case "trigger": {
      const handle = await ow.triggerSchedule(id);
      return out(
        `Triggered schedule ${id}: run ${handle.id}`,
        handle.workflowRun,
      );
    }
  }
}

/** `migrate`: connecting applies the schema. */
export async function migrate(context: CommandContext): Promise<void> {
  await context.backend();
  context.io.out(
    context.values.json
      ? json({ migrated: true })
      : "The schema is up to date.\n",
  );
}

/** `worker start --dir DIR [--concurrency N]` */
export async function workerStart(context: CommandContext): Promise<void> {
  const dir = context.values.dir as string;
  const loaded = await loadWorkflows(dir);
  if (loaded.workflows.length === 0) {
    throw new CommandError(
      `No workflows exported by the ${loaded.modules} modules under ${dir}`,
    );
  }
  const backend = await context.backend();
  const worker = new Worker({
    backend,
    workflows: loaded.workflows,
    concurrency: context.values.concurrency === undefined
      ? undefined
      : integer(context.values.concurrency as string, "--concurrency"),
  });
  await worker.start();
  const names = loaded.workflows.map((w) =>
    w.name + (w.version == null ? "" : `@${w.version}`)
  );
  context.io.err(
    `Worker ${worker.id} started: ${names.length} workflow${
      names.length === 1 ? "" : "s"
    } (${names.join(", ")})\n`,
  );
  const signal = await context.stopRequested;
  context.io.err(`${signal}: stopping, runs in flight finish or park…\n`);
  await worker.stop();
  context.io.err("Worker stopped.\n");
}

/** One line of `doctor`: what was checked, and how it went. */
interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** `doctor [--dir DIR]` */
export async function doctor(context: CommandContext): Promise<boolean> {
  const checks: Check[] = [];
  const styles = stylesFor(context.io);
  let backend: Backend | null = null;
  try {
    backend = await context.backend();
    checks.push({
      name: "connection",
      ok: true,
      detail: "connected; the schema is up to date",
    });
  } catch (error) {
    checks.push({ name: "connection", ok: false, detail: errorLine(error) });
  }
  if (backend !== null) {
    checks.push(await notificationsCheck(backend));
    checks.push(await clockCheck(backend));
  }
  if (context.values.dir !== undefined) {
    try {
      const loaded = await loadWorkflows(context.values.dir as string);
      checks.push({
        name: "workflows",
        ok: loaded.workflows.length > 0,
        detail: loaded.workflows.length === 0
          ? `none exported by the ${loaded.modules} modules under ${context.values.dir}`
          : loaded.workflows.map((w) =>
            w.name + (w.version == null ? "" : `@${w.version}`)
          ).join(", "),
      });
    } catch (error) {
      checks.push({ name: "workflows", ok: false, detail: errorLine(error) });
    }
  }
  if (context.values.json) context.io.out(json({ checks }));
  else {
    context.io.out(table(
      styles,
      ["CHECK", "", "DETAIL"],
      checks.map((c) => [
        c.name,
        c.ok ? styles.green("ok") : styles.red("PROBLEM"),
        c.detail,
      ]),
    ));
  }
  return checks.every((c) => c.ok);
}

/** The clock skew allowed before `doctor` calls it a problem. */
const MAX_SKEW_MS = 1_000;

/** How far this machine's clock is from the database's. */
async function clockCheck(backend: Backend): Promise<Check> {
  if (backend.now === undefined) {
    return {
      name: "clock",
      ok: true,
      detail: "the backend uses this machine's clock",
    };
  }
  const sent = Date.now();
  const dbNow = (await backend.now()).getTime();
  const received = Date.now();
  const skew = dbNow - (sent + received) / 2;
  const ok = Math.abs(skew) <= MAX_SKEW_MS + (received - sent) / 2;
  return {
    name: "clock",
    ok,
    detail: `this machine is ${duration(Math.abs(skew))} ${
      skew > 0 ? "behind" : "ahead of"
    } the database (±${duration((received - sent) / 2)})${
      ok ? "" : "; the engine follows the database, but check NTP here"
    }`,
  };
}

/** Whether notifications reach this process within a few seconds. */
async function notificationsCheck(backend: Backend): Promise<Check> {
  const probe = (backend as { probeNotifications?: () => Promise<boolean> })
    .probeNotifications;
  if (typeof probe !== "function") {
    return {
      name: "notifications",
      ok: true,
      detail: "in-process only (this backend has no cross-process ones)",
    };
  }
  const started = Date.now();
  const ok = await probe.call(backend);
  return {
    name: "notifications",
    ok,
    detail: ok
      ? `a notification came back in ${duration(Date.now() - started)}`
      : "no notification came back within 5 s: workers fall back to polling",
  };
}
