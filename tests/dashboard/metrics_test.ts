/**
 * `GET /metrics`: the Prometheus text format, line by line; counts that
 * match the runs made; the gauges cached (a counting wrapper around the
 * real backend proves a second scrape reads nothing); and, where
 * `promtool` is installed (CI installs it), `promtool check metrics`.
 */

import assert from "node:assert/strict";
import type { Backend } from "../../mod.ts";
import { createDashboard } from "../../dashboard.ts";
import { testEachBackend } from "../helpers.ts";
import { bearer, makeRuns, TOKEN } from "./support.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Parses the text format strictly: every line must be valid. */
function parseMetrics(text: string): Sample[] {
  assert.ok(text.endsWith("\n"), "the text ends with a line feed");
  const typed = new Map<string, string>();
  const helped = new Set<string>();
  const samples: Sample[] = [];
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ")) {
      const name = line.slice(7).split(" ")[0];
      assert.match(name, NAME, line);
      assert.ok(!helped.has(name), `one HELP for ${name}`);
      helped.add(name);
      continue;
    }
    if (line.startsWith("# TYPE ")) {
      const [name, type] = line.slice(7).split(" ");
      assert.match(name, NAME, line);
      assert.ok(
        ["counter", "gauge", "histogram", "summary", "untyped"].includes(type),
        line,
      );
      assert.ok(!typed.has(name), `one TYPE for ${name}`);
      typed.set(name, type);
      continue;
    }
    assert.ok(!line.startsWith("#") && line !== "", `a sample: ${line}`);
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match !== null, `a valid sample line: ${line}`);
    const [, name, , labelText = "", valueText] = match;
    const labels: Record<string, string> = {};
    const labelPattern =
      /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(,|$)/y;
    let rest = labelText;
    while (rest.length > 0) {
      labelPattern.lastIndex = 0;
      const label = labelPattern.exec(rest);
      assert.ok(label !== null, `valid labels: ${labelText}`);
      assert.match(label[1], LABEL);
      labels[label[1]] = label[2].replace(
        /\\(.)/g,
        (_, c) => c === "n" ? "\n" : c,
      );
      rest = rest.slice(label[0].length);
    }
    const value = Number(valueText);
    assert.ok(
      !Number.isNaN(value) || valueText === "NaN",
      `a numeric value: ${line}`,
    );
    const family = typed.has(name)
      ? name
      : name.replace(/_(bucket|sum|count)$/, "");
    assert.ok(typed.has(family), `TYPE before the samples of ${name}`);
    assert.ok(helped.has(family), `HELP before the samples of ${name}`);
    samples.push({ name, labels, value });
  }
  return samples;
}

/** The real backend, counting the calls of its aggregate reads. */
function counting(backend: Backend): { backend: Backend; calls: () => number } {
  let calls = 0;
  const wrapped = new Proxy(backend, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (
        property === "countWorkflowRuns" || property === "getQueueStatistics"
      ) {
        return (...args: unknown[]) => {
          calls++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
  return { backend: wrapped, calls: () => calls };
}

async function scrape(
  dashboard: (request: Request) => Promise<Response>,
): Promise<string> {
  const response = await dashboard(bearer("/metrics", "text/plain"));
  assert.equal(response.status, 200);
  assert.equal(
    response.headers.get("content-type"),
    "text/plain; version=0.0.4; charset=utf-8",
  );
  return await response.text();
}

testEachBackend(
  "/metrics: valid text format; openworkflow_runs counts the runs made; queue age and schedule lag; label values escaped",
  async ({ backend, namespaceId }) => {
    await makeRuns(backend, { workflow: 'odd "name"\\with\nbreak' });
    const dashboard = createDashboard({ backend, token: TOKEN });
    const text = await scrape(dashboard);
    const samples = parseMetrics(text);
    const runs = samples.filter((s) => s.name === "openworkflow_runs");
    const count = (workflow: string, status: string) =>
      runs.find((s) =>
        s.labels.workflow === workflow && s.labels.status === status
      )?.value;
    assert.equal(count('odd "name"\\with\nbreak', "succeeded"), 1);
    assert.equal(count('odd "name"\\with\nbreak', "failed"), 0);
    assert.equal(count("broken", "failed"), 1);
    assert.equal(count("nap", "sleeping"), 1);
    assert.equal(
      runs.reduce((sum, s) => sum + s.value, 0),
      3,
      "every run counted once",
    );
    assert.ok(runs.every((s) => s.labels.namespace === namespaceId));
    const age = samples.find((s) =>
      s.name === "openworkflow_oldest_claimable_run_age_seconds"
    );
    assert.equal(age?.value, 0, "nothing waits");
    const lag = samples.find((s) =>
      s.name === "openworkflow_schedule_lag_seconds"
    );
    assert.equal(lag?.value, 0);
    const up = samples.find((s) => s.name === "openworkflow_backend_up");
    assert.equal(up?.value, 1);

    // A run waiting a while makes the queue age grow.
    await backend.createWorkflowRun({
      workflowName: "waiting",
      version: null,
      config: {},
      context: null,
      input: null,
      availableAt: new Date(Date.now() - 90_000),
      deadlineAt: null,
      idempotencyKey: null,
    });
    const later = parseMetrics(
      await scrape(createDashboard({ backend, token: TOKEN })),
    );
    const waited = later.find((s) =>
      s.name === "openworkflow_oldest_claimable_run_age_seconds"
    );
    assert.ok((waited?.value ?? 0) >= 89, `age ${waited?.value}`);
  },
);

testEachBackend(
  "/metrics: the gauges are read once per cache window, concurrent scrapes share one read",
  async ({ backend }) => {
    await makeRuns(backend);
    const { backend: wrapped, calls } = counting(backend);
    const dashboard = createDashboard({
      backend: wrapped,
      token: TOKEN,
      metricsCacheMs: 60_000,
    });
    await Promise.all([
      scrape(dashboard),
      scrape(dashboard),
      scrape(dashboard),
    ]);
    assert.equal(calls(), 2, "one count and one statistics read");
    const again = parseMetrics(await scrape(dashboard));
    assert.equal(calls(), 2, "the second scrape in the window reads nothing");
    assert.ok(again.some((s) => s.name === "openworkflow_runs"));

    const uncached = counting(backend);
    const fresh = createDashboard({
      backend: uncached.backend,
      token: TOKEN,
      metricsCacheMs: 0,
    });
    await scrape(fresh);
    await scrape(fresh);
    assert.equal(uncached.calls(), 4, "without a window, each scrape reads");
  },
);

/** `promtool`, if installed. */
function promtool(): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/promtool`).isFile) return `${dir}/promtool`;
    } catch {
      // Not here.
    }
  }
  return null;
}

const promtoolPath = promtool();
if (promtoolPath === null && Deno.env.get("CI") === "true") {
  throw new Error("promtool is required in CI (Debian package prometheus)");
}

testEachBackend(
  "/metrics: promtool check metrics accepts the output",
  async ({ backend }) => {
    await makeRuns(backend);
    const text = await scrape(createDashboard({ backend, token: TOKEN }));
    const child = new Deno.Command(promtoolPath!, {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
    const { code, stdout, stderr } = await child.output();
    const report = new TextDecoder().decode(stdout) +
      new TextDecoder().decode(stderr);
    assert.equal(code, 0, `promtool: ${report}\n${text}`);
  },
  { ignore: promtoolPath === null },
);
