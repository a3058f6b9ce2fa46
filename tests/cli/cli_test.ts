/**
 * The CLI, run as a process (`deno run -A cli.ts …`) on Postgres and on a
 * SQLite file: help and exit codes, every runs and schedules command, the
 * JSON output, migrate and doctor, and `worker start` stopped by SIGTERM
 * mid-run with the run resumed by a second `worker start`.
 */

import assert from "node:assert/strict";
import { OpenWorkflow } from "../../mod.ts";
import type { Backend } from "../../backend.ts";
import {
  DATABASE_URL,
  delay,
  postgresTarget,
  randomNamespace,
} from "../helpers.ts";
import { stylesFor } from "../../src/cli/output.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { BackendSqlite } from "../../backend_sqlite.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const WORKFLOWS = new URL("../fixtures/cli_workflows/", import.meta.url)
  .pathname;

/** Where a CLI test's runs live: the options that name it, and a backend. */
interface Place {
  name: string;
  args: string[];
  connect(): Promise<Backend>;
  cleanup(): Promise<void>;
}

/** A fresh namespace on Postgres, or a fresh SQLite file. */
async function places(): Promise<Place[]> {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/cli.db`;
  const namespace = randomNamespace();
  const list: Place[] = [{
    name: "sqlite file",
    args: ["--sqlite", file],
    connect: () => BackendSqlite.connect(file),
    cleanup: () => Deno.remove(dir, { recursive: true }),
  }];
  if (postgresTarget.unavailable === null) {
    list.unshift({
      name: "postgres",
      args: ["--database-url", DATABASE_URL, "--namespace", namespace],
      connect: () =>
        BackendPostgres.connect(DATABASE_URL, { namespaceId: namespace }),
      cleanup: () => Promise.resolve(),
    });
  }
  return list;
}

/** Runs the CLI to the end. */
async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}cli.ts`, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "", ...env },
    clearEnv: false,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

/** Registers a test that runs once per place. */
function testEachPlace(
  name: string,
  fn: (place: Place, ow: OpenWorkflow) => Promise<void>,
): void {
  Deno.test(name, async (t) => {
    for (const place of await places()) {
      await t.step(place.name, async () => {
        const backend = await place.connect();
        try {
          await fn(place, new OpenWorkflow({ backend }));
        } finally {
          await backend.stop();
          await place.cleanup();
        }
      });
    }
  });
}

Deno.test("--help at every level exits 0; a bad command line exits 2 with the usage on stderr", async () => {
  const top = await cli(["--help"]);
  assert.equal(top.code, 0);
  for (const command of ["worker start", "runs delete", "doctor"]) {
    assert.match(top.stdout, new RegExp(command));
  }
  const group = await cli(["runs", "--help"]);
  assert.equal(group.code, 0);
  assert.match(group.stdout, /runs fork/);
  const leaf = await cli(["runs", "delete", "-h"]);
  assert.equal(leaf.code, 0);
  assert.match(leaf.stdout, /--finished-before/);

  for (
    const [args, message] of [
      [[], /Usage: openworkflow COMMAND/],
      [["nope"], /Unknown command 'nope'/],
      [["runs", "explode"], /Unknown command 'runs explode'/],
      [["runs", "list", "--bogus"], /Unknown option '--bogus'/],
      [["runs", "show"], /Missing ID/],
      [["runs", "show", "a", "b"], /Unexpected argument 'b'/],
      [["runs", "delete", "--sqlite", "x.db"], /Missing --finished-before/],
      [
        ["migrate", "--sqlite", "x.db", "--database-url", "postgres://x"],
        /not both/,
      ],
    ] as const
  ) {
    const result = await cli([...args]);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.match(result.stderr, /Usage:/);
    assert.equal(result.stdout, "");
  }
  // No database named anywhere.
  const none = await cli(["runs", "list"], { DATABASE_URL: "" });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /No database/);
});

Deno.test("a database that cannot be reached exits 1 with one line", async () => {
  const result = await cli([
    "runs",
    "list",
    "--database-url",
    "postgresql://postgres@127.0.0.1:1/none",
  ]);
  assert.equal(result.code, 1);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  assert.match(result.stderr, /BackendError/);
});

testEachPlace(
  "runs list, show, retry, fork, cancel and delete act on the runs, in tables and JSON",
  async (place, ow) => {
    let broken = true;
    const wf = ow.defineWorkflow<{ n: number }, string>(
      { name: "cli-steps", retry: { maxAttempts: 1 } },
      async ({ input, step }) => {
        await step.run({ name: "first" }, () => input.n);
        return await step.run(
          { name: "second", retry: { maxAttempts: 1 } },
          () => {
            if (broken) throw new Error("second broke");
            return `ok ${input.n}`;
          },
        );
      },
    );
    const worker = ow.newWorker();
    await worker.start();
    try {
      const failed = await wf.run({ n: 1 });
      await assert.rejects(failed.result({ timeoutMs: 10_000 }));
      const pending = await wf.run({ n: 2 }, { availableAt: "1h" });

      const table = await cli(["runs", "list", ...place.args]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^ID +WORKFLOW +STATUS +CREATED +FINISHED$/m);
      assert.match(table.stdout, new RegExp(`${failed.id} +cli-steps +failed`));
      assert.ok(!table.stdout.includes("\u001b["), "no colors off a TTY");

      const list = await cli([
        "runs",
        "list",
        "--status",
        "failed",
        "--json",
        ...place.args,
      ]);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(
        JSON.parse(list.stdout).runs.map((r: { id: string }) => r.id),
        [failed.id],
      );

      const show = await cli(["runs", "show", failed.id, ...place.args]);
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /^status +failed$/m);
      assert.match(show.stdout, /^error +.*second broke/m);
      assert.match(show.stdout, /first +run +succeeded/);
      assert.match(show.stdout, /second +run +failed .*second broke/);
      const shown = JSON.parse(
        (await cli(["runs", "show", failed.id, "--json", ...place.args]))
          .stdout,
      );
      assert.deepEqual(
        shown.steps.map((s: { stepName: string }) => s.stepName),
        ["first", "second"],
      );

      const unknown = await cli([
        "runs",
        "show",
        crypto.randomUUID(),
        ...place.args,
      ]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^No run /);

      // Retry once fixed: the same run succeeds.
      broken = false;
      const retry = await cli(["runs", "retry", failed.id, ...place.args]);
      assert.equal(retry.code, 0, retry.stderr);
      assert.match(retry.stdout, new RegExp(`Retrying run ${failed.id}`));
      assert.equal(await failed.result({ timeoutMs: 10_000 }), "ok 1");
      const refused = await cli(["runs", "retry", failed.id, ...place.args]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /it is succeeded/);
      assert.equal(refused.stderr.trim().split("\n").length, 1);

      const fork = await cli([
        "runs",
        "fork",
        failed.id,
        "--from-step",
        "second",
        "--json",
        ...place.args,
      ]);
      assert.equal(fork.code, 0, fork.stderr);
      const forked = JSON.parse(fork.stdout);
      assert.equal(forked.forkedFromWorkflowRunId, failed.id);
      assert.equal(
        await (await ow.getRun(forked.id))!.result({ timeoutMs: 10_000 }),
        "ok 1",
      );
      const noStep = await cli([
        "runs",
        "fork",
        failed.id,
        "--from-step",
        "third",
        ...place.args,
      ]);
      assert.equal(noStep.code, 1);
      assert.match(noStep.stderr, /has no step 'third'/);

      const cancel = await cli(["runs", "cancel", pending.id, ...place.args]);
      assert.equal(cancel.code, 0, cancel.stderr);
      assert.equal((await pending.refresh()).status, "canceled");
      const finished = await cli(["runs", "cancel", failed.id, ...place.args]);
      assert.equal(finished.code, 1);
      assert.match(finished.stderr, /has finished \(succeeded\)/);

      const badStatus = await cli([
        "runs",
        "delete",
        "--finished-before",
        "0s",
        "--status",
        "running",
        ...place.args,
      ]);
      assert.equal(badStatus.code, 2);
      assert.match(
        badStatus.stderr,
        /--status must be one of succeeded, failed, canceled, received running/,
      );
      assert.match(badStatus.stderr, /Usage:/);
      const badTime = await cli([
        "runs",
        "delete",
        "--finished-before",
        "last tuesday",
        ...place.args,
      ]);
      assert.equal(badTime.code, 1);
      assert.match(badTime.stderr, /--finished-before/);
      const deleted = await cli([
        "runs",
        "delete",
        "--finished-before",
        "0s",
        "--status",
        "succeeded,canceled",
        "--json",
        ...place.args,
      ]);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal(JSON.parse(deleted.stdout).deleted, 3);
      assert.equal((await ow.listRuns()).runs.length, 0);
    } finally {
      await worker.stop();
    }
  },
);

testEachPlace(
  "schedules list, pause, resume, trigger and delete",
  async (place, ow) => {
    const wf = ow.defineWorkflow(
      { name: "cli-nightly" },
      () => Promise.resolve("night"),
    );
    await ow.createSchedule({
      id: "nightly",
      workflow: wf,
      cron: "0 3 * * *",
      timezone: "Europe/Berlin",
    });
    const list = await cli(["schedules", "list", ...place.args]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(
      list.stdout,
      /^nightly +cli-nightly +0 3 \* \* \* +Europe\/Berlin +active/m,
    );
    assert.equal(
      (await cli(["schedules", "pause", "nightly", ...place.args])).code,
      0,
    );
    assert.equal((await ow.getSchedule("nightly"))!.paused, true);
    assert.equal(
      (await cli(["schedules", "resume", "nightly", ...place.args])).code,
      0,
    );
    assert.equal((await ow.getSchedule("nightly"))!.paused, false);
    const trigger = await cli([
      "schedules",
      "trigger",
      "nightly",
      "--json",
      ...place.args,
    ]);
    assert.equal(trigger.code, 0, trigger.stderr);
    assert.equal(JSON.parse(trigger.stdout).workflowName, "cli-nightly");
    assert.equal(
      (await cli(["schedules", "delete", "nightly", ...place.args])).code,
      0,
    );
    const gone = await cli(["schedules", "delete", "nightly", ...place.args]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No schedule nightly/);
    const pauseGone = await cli([
      "schedules",
      "pause",
      "nightly",
      ...place.args,
    ]);
    assert.equal(pauseGone.code, 1);
  },
);

testEachPlace(
  "migrate applies the schema; doctor checks connection, notifications, clock and workflows",
  async (place) => {
    const migrate = await cli(["migrate", ...place.args]);
    assert.equal(migrate.code, 0, migrate.stderr);
    const doctor = await cli([
      "doctor",
      "--dir",
      WORKFLOWS,
      "--json",
      ...place.args,
    ]);
    assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr);
    const checks = JSON.parse(doctor.stdout).checks as {
      name: string;
      ok: boolean;
      detail: string;
    }[];
    assert.deepEqual(checks.map((c) => c.name), [
      "connection",
      "notifications",
      "clock",
      "workflows",
    ]);
    assert.ok(checks.every((c) => c.ok));
    assert.match(checks[3].detail, /phases/);
    assert.match(checks[3].detail, /echo@v2/);
    if (place.name === "postgres") {
      assert.match(checks[1].detail, /came back/);
    }
    // A folder without workflows is a problem: exit 1.
    const empty = await Deno.makeTempDir();
    try {
      const problem = await cli(["doctor", "--dir", empty, ...place.args]);
      assert.equal(problem.code, 1);
      assert.match(problem.stdout, /workflows +PROBLEM +none exported/);
    } finally {
      await Deno.remove(empty, { recursive: true });
    }
  },
);

testEachPlace(
  "worker start runs the exported workflows; SIGTERM mid-run stops it gracefully, and a second worker start resumes the run",
  async (place, ow) => {
    const log = await Deno.makeTempFile();
    const start = () =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${ROOT}cli.ts`,
          "worker",
          "start",
          "--dir",
          WORKFLOWS,
          "--concurrency",
          "4",
          ...place.args,
        ],
        cwd: ROOT,
        env: { CLI_TEST_LOG: log },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    const lines = async () =>
      (await Deno.readTextFile(log)).split("\n").filter((l) => l !== "");
    const first = start();
    try {
      const { phases } = await import("../fixtures/cli_workflows/phases.ts");
      const handle = await ow.registerWorkflow(phases).run({ tag: "x" });
      // SIGTERM while step "slow" runs.
      for (let i = 0; i < 1000 && !(await lines()).includes("one x"); i++) {
        await delay(10);
      }
      assert.deepEqual(await lines(), ["one x"]);
      first.kill("SIGTERM");
      const stopped = await first.output();
      const stderr = new TextDecoder().decode(stopped.stderr);
      assert.equal(stopped.code, 0, stderr);
      assert.match(stderr, /started: 2 workflows \(echo@v2, phases\)/);
      assert.match(stderr, /SIGTERM: stopping/);
      assert.match(stderr, /Worker stopped/);
      // The step in flight finished; the run parked at its sleep.
      assert.deepEqual(await lines(), ["one x", "slow x"]);
      assert.equal((await handle.refresh()).status, "sleeping");

      const second = start();
      try {
        assert.equal(await handle.result({ timeoutMs: 20_000 }), "done x");
        assert.deepEqual(await lines(), ["one x", "slow x", "two x"]);
        const { echo } = await import(
          "../fixtures/cli_workflows/nested/echo.ts"
        );
        const echoed = await ow.registerWorkflow(echo).run("hello");
        assert.equal(await echoed.result({ timeoutMs: 10_000 }), "hello");
      } finally {
        second.kill("SIGTERM");
        assert.equal((await second.output()).code, 0);
      }
    } finally {
      try {
        first.kill("SIGKILL");
      } catch { /* already exited */ }
      await Deno.remove(log);
    }
  },
);

Deno.test("colors only on a terminal, and never with NO_COLOR", () => {
  const io = (isTty: boolean, noColor?: string) => ({
    out() {},
    err() {},
    isTty,
    env: (name: string) => name === "NO_COLOR" ? noColor : undefined,
  });
  assert.equal(stylesFor(io(true)).red("x"), "\u001b[31mx\u001b[39m");
  assert.equal(stylesFor(io(true, "1")).red("x"), "x");
  assert.equal(stylesFor(io(false)).red("x"), "x");
  assert.equal(stylesFor(io(true, "")).red("x"), "\u001b[31mx\u001b[39m");
});

Deno.test("on a terminal: colored tables (none with NO_COLOR) and the progress of a large delete", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/tty.db`;
  try {
    {
      await using backend = await BackendSqlite.connect(file);
      const ow = new OpenWorkflow({ backend });
      const wf = ow.defineWorkflow({ name: "tty" }, () => Promise.resolve(1));
      for (let i = 0; i < 1200; i++) await wf.run();
      const worker = ow.newWorker({ concurrency: 100 });
      while (await worker.tick() > 0) { /* until none is left */ }
    }
    // `script` runs the CLI on a pseudo-terminal (util-linux).
    const onTty = async (command: string, noColor = "") => {
      const { code, stdout } = await new Deno.Command("script", {
        args: [
          "-qec",
          `${Deno.execPath()} run -A ${ROOT}cli.ts ${command} --sqlite ${file}`,
          "/dev/null",
        ],
        env: { NO_COLOR: noColor },
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code, text: new TextDecoder().decode(stdout) };
    };
    const colored = await onTty("runs list --limit 3");
    assert.equal(colored.code, 0, colored.text);
    assert.ok(colored.text.includes("\u001b[32msucceeded\u001b[39m"));
    const plain = await onTty("runs list --limit 3", "1");
    assert.ok(!plain.text.includes("\u001b["), plain.text);
    assert.match(plain.text, /succeeded/);
    const deleted = await onTty("runs delete --finished-before 0s", "1");
    assert.equal(deleted.code, 0, deleted.text);
    assert.match(deleted.text, /Deleting finished runs… \d+/);
    assert.match(deleted.text, /Deleted 1200 finished runs/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

testEachPlace(
  "runs cancel --compensate hands the run to a worker, which undoes its steps and cancels it",
  async (place, ow) => {
    const undone: string[] = [];
    const wf = ow.defineWorkflow({ name: "cli-saga" }, async ({ step }) => {
      await step.run({
        name: "hold",
        compensate: (held) => void undone.push(`release ${held}`),
      }, () => "room 3");
      await step.sleep("wait", "1h");
    });
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    try {
      const handle = await wf.run();
      for (let i = 0; i < 500; i++) {
        if ((await handle.refresh()).status === "sleeping") break;
        await delay(10);
      }
      const cancel = await cli([
        "runs",
        "cancel",
        handle.id,
        "--compensate",
        ...place.args,
      ]);
      assert.equal(cancel.code, 0, cancel.stderr);
      assert.match(cancel.stdout, /a worker runs its compensations/);
      await assert.rejects(handle.result({ timeoutMs: 10_000 }));
      assert.equal((await handle.refresh()).status, "canceled");
      assert.deepEqual(undone, ["release room 3"]);
    } finally {
      await worker.stop();
    }
  },
);
