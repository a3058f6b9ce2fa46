/**
 * A frozen worker: a worker process SIGSTOPped in the middle of steps for
 * longer than its lease (a GC pause, a stopped container, a laptop lid)
 * loses its runs to another worker. Woken with SIGCONT, none of its writes
 * lands (fencing), its in-flight step functions see their `signal` abort
 * with `LeaseLostError`, it reports the lost leases, and it goes back to
 * claiming work. No run is corrupted or finished twice.
 */

import assert from "node:assert/strict";
import { OpenWorkflow, type WorkflowRunHandle } from "../../mod.ts";
import { DATABASE_URL, delay, testEachBackend } from "../helpers.ts";
import { defineFrozen } from "./fixtures/frozen.ts";

const WORKER = new URL("./fixtures/frozen_worker.ts", import.meta.url).pathname;

/** The lines of the log, as `[worker, run, what]`. */
async function readLog(file: string): Promise<[string, string, string][]> {
  const text = await Deno.readTextFile(file).catch(() => "");
  return text.split("\n").filter((line) => line !== "").map((line) => {
    const [worker, run, ...what] = line.split(" ");
    return [worker, run, what.join(" ")];
  });
}

/** Waits until `ok` holds for the log. */
async function waitForLog(
  file: string,
  ok: (lines: [string, string, string][]) => boolean,
  what: string,
): Promise<void> {
  for (let i = 0; i < 1500; i++) {
    if (ok(await readLog(file))) return;
    await delay(20);
  }
  assert.fail(
    `timed out waiting for ${what}: ${await Deno.readTextFile(file)}`,
  );
}

testEachBackend(
  "a worker frozen past its lease loses its runs; woken, its writes are fenced, its steps abort, and it claims again",
  async ({ backend, namespaceId }) => {
    const location = "path" in backend
      ? (backend as { path: string }).path
      : DATABASE_URL;
    const kind = "path" in backend ? "sqlite" : "postgres";
    const log = await Deno.makeTempFile({ prefix: "frozen-" });
    const frozen = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", WORKER, kind, location, namespaceId, "A"],
      env: { FROZEN_LOG: log },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const events: { event: string; workflowRunId: string; error: string }[] =
      [];
    let ready = () => {};
    const isReady = new Promise<void>((resolve) => ready = resolve);
    const reading = (async () => {
      let buffer = "";
      for await (
        const chunk of frozen.stdout.pipeThrough(new TextDecoderStream())
      ) {
        buffer += chunk;
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line === "ready") ready();
          else if (line.startsWith("{")) events.push(JSON.parse(line));
        }
      }
    })();
    const ow = new OpenWorkflow({ backend });
    const wf = defineFrozen(ow, "B", false, log);
    let worker = ow.newWorker({ leaseDurationMs: 1_000, pollIntervalMs: 20 });
    let killed = false;
    try {
      await isReady;
      const handles: WorkflowRunHandle<string>[] = [];
      for (let i = 0; i < 4; i++) handles.push(await wf.run(i));
      const ids = handles.map((h) => h.id);
      await waitForLog(
        log,
        (lines) =>
          ids.every((id) =>
            lines.some(([w, r, what]) =>
              w === "A" && r === id && what === "b started"
            )
          ),
        "A to be in step b of every run",
      );

      // Frozen for longer than its lease: B takes the runs and ends them.
      frozen.kill("SIGSTOP");
      await worker.start();
      const results = await Promise.all(
        handles.map((h) => h.result({ timeoutMs: 20_000 })),
      );
      assert.deepEqual(results, [0, 1, 2, 3].map((i) => `done ${i} by B`));
      await worker.stop();

      // Woken: its in-flight steps abort, and it reports the lost leases.
      frozen.kill("SIGCONT");
      await waitForLog(
        log,
        (lines) =>
          ids.every((id) =>
            lines.some(([w, r, what]) =>
              w === "A" && r === id && what === "b aborted LeaseLostError"
            )
          ),
        "A's steps to abort",
      );
      for (let i = 0; i < 500; i++) {
        if (ids.every((id) => events.some((e) => e.workflowRunId === id))) {
          break;
        }
        await delay(20);
      }
      assert.deepEqual(
        ids.map((id) => events.find((e) => e.workflowRunId === id)?.error),
        ids.map(() => "LeaseLostError"),
      );

      // None of its writes landed: each run is B's, step by step, and
      // stays as B finished it.
      await delay(500);
      for (const handle of handles) {
        const run = await handle.refresh();
        assert.equal(run.status, "succeeded");
        assert.match(run.output as string, /by B$/);
        const steps = (await handle.listStepAttempts()).map((a) =>
          `${a.stepName} ${a.status} ${
            (a.error as { name?: string } | null)?.name ?? ""
          }`.trim()
        );
        assert.deepEqual(steps, [
          "a succeeded",
          "b failed StepInterruptedError",
          "b succeeded",
          "c succeeded",
        ]);
      }
      const lines = await readLog(log);
      for (const id of ids) {
        assert.deepEqual(
          lines.filter(([, r]) => r === id).map(([w, , what]) =>
            `${w} ${what}`
          ),
          [
            "A a",
            "A b started",
            "B b started",
            "B c",
            "A b aborted LeaseLostError",
          ],
        );
      }

      // It goes back to claiming work: it takes new runs.
      const fresh = await wf.run(10);
      await waitForLog(
        log,
        (lines) =>
          lines.some(([w, r, what]) =>
            w === "A" && r === fresh.id && what === "a"
          ),
        "A to claim a new run",
      );
      frozen.kill("SIGKILL");
      killed = true;
      worker = ow.newWorker({ leaseDurationMs: 1_000, pollIntervalMs: 20 });
      await worker.start();
      assert.equal(await fresh.result({ timeoutMs: 20_000 }), "done 10 by B");
    } finally {
      if (!killed) frozen.kill("SIGKILL");
      await frozen.status;
      await reading;
      await worker.stop();
      await Deno.remove(log);
    }
  },
);
