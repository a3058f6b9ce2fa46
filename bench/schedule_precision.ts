/**
 * How late a schedule's runs start after their slots: a schedule firing
 * every second, one worker, for `--seconds` seconds; prints the lateness
 * (run creation, by the backend's clock, minus the slot) per backend.
 *
 *   deno run -A bench/schedule_precision.ts [--seconds 10]
 */

import { parseArgs } from "node:util";
import { type Backend, OpenWorkflow } from "../mod.ts";
import { BackendPostgres } from "../backend_postgres.ts";
import { BackendSqlite } from "../backend_sqlite.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "10" },
    "database-url": {
      type: "string",
      default: Deno.env.get("DATABASE_URL") ??
        "postgresql://postgres@127.0.0.1:5432/test",
    },
  },
});

async function measure(name: string, backend: Backend): Promise<void> {
  const ow = new OpenWorkflow({ backend });
  ow.defineWorkflow({ name: "tick" }, () => null);
  const worker = ow.newWorker();
  await worker.start();
  await ow.createSchedule({
    id: "precision",
    workflow: "tick",
    cron: "* * * * * *",
    catchUp: "all",
  });
  await new Promise((resolve) =>
    setTimeout(resolve, Number(values.seconds) * 1000)
  );
  await ow.pauseSchedule("precision");
  await worker.stop();
  const lateness = (await ow.listRuns({ workflowName: "tick", limit: 1000 }))
    .runs.map((run) =>
      run.createdAt.getTime() -
      Date.parse((run.context as { slot: string }).slot)
    ).sort((a, b) => a - b);
  const at = (q: number) =>
    lateness[Math.min(lateness.length - 1, Math.floor(q * lateness.length))];
  console.log(
    `| ${name} | ${lateness.length} | ${at(0.5)} | ${at(0.95)} | ${
      lateness.at(-1)
    } |`,
  );
}

console.log(
  `\`deno run -A bench/schedule_precision.ts --seconds ${values.seconds}\`\n`,
);
console.log("| backend | runs | p50 ms late | p95 ms late | max ms late |");
console.log("| --- | --- | --- | --- | --- |");
const namespaceId = `precision-${crypto.randomUUID()}`;
{
  await using backend = await BackendPostgres.connect(
    values["database-url"]!,
    { namespaceId },
  );
  await measure("postgres", backend);
}
const dir = await Deno.makeTempDir();
try {
  await using backend = await BackendSqlite.connect(`${dir}/precision.db`);
  await measure("sqlite", backend);
} finally {
  await Deno.remove(dir, { recursive: true });
}
