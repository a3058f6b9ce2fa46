import { OpenWorkflow } from "@openworkflow/core";
import { BackendPostgres } from "@openworkflow/core/postgres";

const backend = await BackendPostgres.connect(process.env.DATABASE_URL);
const ow = new OpenWorkflow({ backend });

const greet = ow.defineWorkflow(
  { name: "greet" },
  async ({ input, step }) => {
    const greeting = await step.run({ name: "generate" }, () => {
      return `Hello, ${input.name}!`;
    });
    return { greeting };
  },
);

const worker = ow.newWorker({ concurrency: 10 });
await worker.start();

const handle = await greet.run({ name: "Alice" });
console.log(await handle.result()); // { greeting: "Hello, Alice!" }

await worker.stop(); // graceful: waits for runs in flight
await backend.stop();
