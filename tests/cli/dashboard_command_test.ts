/**
 * `openworkflow dashboard`, run as a process (`deno run -A cli.ts
 * dashboard …`) on Postgres and on a SQLite file: it prints the URL it
 * listens on, `/metrics` answers the bearer token and refuses a request
 * without it, an open event stream does not hold up SIGTERM, which stops it
 * with exit 0; and the command lines it refuses (no token, a bad port,
 * `--no-auth` off loopback) exit 2 with the usage.
 */

import assert from "node:assert/strict";
import { OpenWorkflow } from "../../mod.ts";
import type { Backend } from "../../backend.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { BackendSqlite } from "../../backend_sqlite.ts";
import { DATABASE_URL, postgresTarget, randomNamespace } from "../helpers.ts";
import { isLoopback } from "../../src/cli/dashboard.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TOKEN = "a-dashboard-token-of-32-characters";

/** A dashboard process, started and listening. */
interface Running {
  url: string;
  /** Sends `signal`, and resolves with the exit code and what it wrote. */
  stop(
    signal: Deno.Signal,
  ): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Starts `cli.ts dashboard …` and waits for the URL it prints. */
async function startDashboard(
  args: string[],
  env: Record<string, string>,
): Promise<Running> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}cli.ts`, "dashboard", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  let url: string | null = null;
  const started = Date.now();
  while (url === null) {
    const { done, value } = await lines.read();
    if (done) {
      const status = await child.status;
      throw new Error(
        `the dashboard exited (${status.code}) before listening: ${await stderr}`,
      );
    }
    stdout += value;
    url = stdout.match(/^Dashboard listening on (http:\/\/\S+)$/m)?.[1] ??
      null;
    if (Date.now() - started > 30_000) {
      child.kill("SIGKILL");
      throw new Error(`no URL printed in 30 s: ${stdout}`);
    }
  }
  return {
    url,
    async stop(signal) {
      child.kill(signal);
      for (;;) {
        const { done, value } = await lines.read();
        if (done) break;
        stdout += value;
      }
      const { code } = await child.status;
      return { code, stdout, stderr: await stderr };
    },
  };
}

/** Runs `cli.ts dashboard …` to its end (for command lines it refuses). */
async function refused(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}cli.ts`, "dashboard", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", OPENWORKFLOW_DASHBOARD_TOKEN: "", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

/** Where the test's runs live: the options that name it, and a backend. */
interface Place {
  name: string;
  args: string[];
  connect(): Promise<Backend>;
  cleanup(): Promise<void>;
}

async function places(): Promise<Place[]> {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/dashboard.db`;
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

Deno.test("dashboard serves /metrics to the bearer token only, and stops on SIGTERM with an event stream open", async (t) => {
  for (const place of await places()) {
    await t.step(place.name, async () => {
      const backend = await place.connect();
      try {
        const ow = new OpenWorkflow({ backend });
        const wf = ow.defineWorkflow(
          { name: "dashboard-cli" },
          () => Promise.resolve("done"),
        );
        const handle = await wf.run();
        const worker = ow.newWorker();
        while (await worker.tick() > 0) { /* until it is done */ }
        assert.equal(await handle.result({ timeoutMs: 5_000 }), "done");

        const running = await startDashboard(
          ["--port", "0", "--token-env", "MY_DASHBOARD_TOKEN", ...place.args],
          { MY_DASHBOARD_TOKEN: TOKEN },
        );
        let stopped = false;
        try {
          assert.match(running.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
          const metrics = await fetch(`${running.url}metrics`, {
            headers: { authorization: `Bearer ${TOKEN}` },
          });
          assert.equal(metrics.status, 200);
          const text = await metrics.text();
          assert.match(text, /^# TYPE openworkflow_runs gauge$/m);
          assert.match(
            text,
            /^openworkflow_runs\{[^}]*workflow="dashboard-cli"[^}]*status="succeeded"[^}]*\} 1$/m,
          );
          const anonymous = await fetch(`${running.url}metrics`);
          assert.equal(anonymous.status, 401);
          await anonymous.body?.cancel();
          const wrong = await fetch(`${running.url}metrics`, {
            headers: { authorization: "Bearer not-the-token-at-all" },
          });
          assert.equal(wrong.status, 401);
          await wrong.body?.cancel();

          // An open event stream: SIGTERM still stops the process.
          const events = await fetch(`${running.url}runs/${handle.id}/events`, {
            headers: { authorization: `Bearer ${TOKEN}` },
          });
          assert.equal(events.status, 200);
          assert.match(
            events.headers.get("content-type") ?? "",
            /^text\/event-stream/,
          );
          const reader = events.body!.getReader();
          await reader.read();

          const exit = await running.stop("SIGTERM");
          stopped = true;
          assert.equal(exit.code, 0, exit.stderr);
          assert.match(exit.stderr, /SIGTERM: stopping the dashboard/);
          assert.match(exit.stderr, /Dashboard stopped/);
          assert.ok(
            !exit.stdout.includes(TOKEN) && !exit.stderr.includes(TOKEN),
          );
          try {
            while (!(await reader.read()).done) { /* drain */ }
          } catch { /* the connection was ended */ }
        } finally {
          if (!stopped) await running.stop("SIGKILL");
        }
      } finally {
        await backend.stop();
        await place.cleanup();
      }
    });
  }
});

Deno.test("dashboard --no-auth serves without a token on a loopback hostname, and stops on SIGINT", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const running = await startDashboard(
      ["--port", "0", "--no-auth", "--sqlite", `${dir}/open.db`],
      { OPENWORKFLOW_DASHBOARD_TOKEN: "" },
    );
    let stopped = false;
    try {
      const metrics = await fetch(`${running.url}metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^# TYPE openworkflow_runs gauge$/m);
      const exit = await running.stop("SIGINT");
      stopped = true;
      assert.equal(exit.code, 0, exit.stderr);
      assert.match(exit.stderr, /SIGINT: stopping the dashboard/);
    } finally {
      if (!stopped) await running.stop("SIGKILL");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dashboard refuses, with exit 2 and the usage: no token, a token too short, a bad port, --no-auth off loopback", async () => {
  const dir = await Deno.makeTempDir();
  const db = ["--sqlite", `${dir}/refused.db`];
  try {
    for (
      const [args, env, message] of [
        [[], {}, /^No token: set OPENWORKFLOW_DASHBOARD_TOKEN .*--token-env/],
        [["--token-env", "MINE"], {}, /^No token: set MINE /],
        [
          [],
          { OPENWORKFLOW_DASHBOARD_TOKEN: "short" },
          /^The token in OPENWORKFLOW_DASHBOARD_TOKEN is refused: .*16/,
        ],
        [
          ["--port", "http"],
          { OPENWORKFLOW_DASHBOARD_TOKEN: TOKEN },
          /^--port must be an integer from 0 to 65535, received http/,
        ],
        [
          ["--port", "70000"],
          { OPENWORKFLOW_DASHBOARD_TOKEN: TOKEN },
          /^--port must be an integer from 0 to 65535, received 70000/,
        ],
        [
          ["--port", "-1"],
          { OPENWORKFLOW_DASHBOARD_TOKEN: TOKEN },
          /--port/,
        ],
        [
          ["--no-auth", "--hostname", "0.0.0.0"],
          {},
          /^--no-auth is refused on --hostname 0\.0\.0\.0/,
        ],
        [
          ["--no-auth", "--token-env", "MINE"],
          {},
          /^Give --no-auth or --token-env, not both/,
        ],
        [["--token", TOKEN], {}, /^Unknown option '--token'/],
      ] as const
    ) {
      const result = await refused([...args, ...db], env);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /Usage: openworkflow dashboard/);
      assert.equal(result.stdout, "");
    }
    // Help lists the command and its options.
    const help = await refused(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--token-env NAME/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dashboard on a port in use exits 1 with one line", async () => {
  const dir = await Deno.makeTempDir();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const result = await refused(
      ["--port", String(taken.addr.port), "--sqlite", `${dir}/busy.db`],
      { OPENWORKFLOW_DASHBOARD_TOKEN: TOKEN },
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `^Cannot listen on 127\\.0\\.0\\.1:${taken.addr.port}: the port is in use\\n$`,
      ),
    );
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("isLoopback() accepts 127.0.0.0/8, ::1 and localhost only", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]) {
    assert.equal(isLoopback(host), true, host);
  }
  for (
    const host of [
      "0.0.0.0",
      "::",
      "192.168.1.2",
      "127.0.0.1.nip.io",
      "128.0.0.1",
      "example.com",
    ]
  ) {
    assert.equal(isLoopback(host), false, host);
  }
});
