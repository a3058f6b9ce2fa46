/**
 * A TypeScript consumer of the npm package: `run.sh` type-checks it with
 * `tsc` (module and moduleResolution `nodenext`, strict) against the
 * generated declarations. It is never run.
 *
 * The `@ts-expect-error` lines prove that the types are real: were a
 * declaration missing, the import would be `any`, the line would not error,
 * and `tsc` would report the directive as unused.
 */

import {
  type Backend,
  DEFAULT_CONCURRENCY,
  DEFAULT_NAMESPACE_ID,
  DEFAULT_RESULT_TIMEOUT_MS,
  type Duration,
  type JsonValue,
  NonRetryableError,
  OpenWorkflow,
  OpenWorkflowError,
  parseDuration,
  type RetryPolicy,
  type StepApi,
  type StepAttempt,
  type StepFunctionConfig,
  type Worker,
  type WorkerEvent,
  type WorkerOptions,
  type WorkflowDefinition,
  WorkflowFailedError,
  type WorkflowFunction,
  type WorkflowRun,
  type WorkflowRunHandle,
  type WorkflowRunStatus,
} from "@openworkflow/core";
import {
  BackendPostgres,
  type BackendPostgresOptions,
} from "@openworkflow/core/postgres";
import {
  BackendSqlite,
  type BackendSqliteOptions,
} from "@openworkflow/core/sqlite";

interface SendEmailInput {
  userId: string;
  subject: string;
}

interface SendEmailOutput {
  emailId: string;
  sentAt: string;
}

const retry: RetryPolicy = { maxAttempts: 5, initialIntervalMs: 500 };
const fetchUser: StepFunctionConfig = { name: "fetch-user", retry };
const pause: Duration = "1s";

const sendEmailFn: WorkflowFunction<SendEmailInput, SendEmailOutput> = async (
  { input, step, run },
) => {
  const api: StepApi = step;
  const user = await api.run(fetchUser, () => ({
    email: `${input.userId}@example.com`,
  }));
  await step.sleep("pause", pause);
  const emailId = await step.run(
    { name: "send", timeoutMs: 10_000 },
    ({ signal, attempt }) => {
      signal.throwIfAborted();
      if (attempt > 3) throw new NonRetryableError("giving up");
      return `${user.email}/${input.subject}/${run.id}`;
    },
  );
  return { emailId, sentAt: new Date().toISOString() };
};

/** Uses the client, the worker and a handle with their declared types. */
export async function useClient(backend: Backend): Promise<SendEmailOutput> {
  const ow = new OpenWorkflow({ backend });
  const sendEmail: WorkflowDefinition<SendEmailInput, SendEmailOutput> = ow
    .defineWorkflow({ name: "send-email", version: "2" }, sendEmailFn);

  const options: Omit<WorkerOptions, "backend" | "workflows"> = {
    concurrency: DEFAULT_CONCURRENCY,
  };
  const worker: Worker = ow.newWorker(options);
  worker.addEventListener("run-failed", (event: WorkerEvent) => {
    const id: string | null = event.workflowRunId;
    console.log(id, event.error);
  });
  await worker.start();

  const handle: WorkflowRunHandle<SendEmailOutput> = await sendEmail.run(
    { userId: "123", subject: "Welcome" },
    { deadlineAt: new Date(Date.now() + 3_600_000), idempotencyKey: "123" },
  );
  const run: WorkflowRun = handle.workflowRun;
  const status: WorkflowRunStatus = run.status;
  const attempts: StepAttempt[] = await handle.listStepAttempts();
  const outputs: (JsonValue | null)[] = attempts.map((a) => a.output);
  console.log(status, outputs.length, worker.activeCount);

  // @ts-expect-error: the input type is enforced.
  await sendEmail.run({ userId: 123, subject: "Welcome" });

  try {
    const output = await handle.result({
      timeoutMs: DEFAULT_RESULT_TIMEOUT_MS,
      signal: AbortSignal.timeout(parseDuration("10m")),
    });
    // @ts-expect-error: the output type is enforced.
    const wrong: number = output.emailId;
    console.log(wrong);
    return output;
  } catch (error) {
    if (error instanceof WorkflowFailedError) {
      const id: string = error.workflowRunId;
      console.log(id, error.cause);
    } else if (error instanceof OpenWorkflowError) {
      console.log(error.name);
    }
    throw error;
  } finally {
    await worker.stop();
  }
}

/** Connects both backends with their declared options. */
export async function connectBackends(url: string): Promise<void> {
  const postgresOptions: BackendPostgresOptions = {
    namespaceId: DEFAULT_NAMESPACE_ID,
    maxConnections: 4,
  };
  const postgres: BackendPostgres = await BackendPostgres.connect(
    url,
    postgresOptions,
  );
  const sqliteOptions: BackendSqliteOptions = { namespaceId: "local" };
  await using sqlite = await BackendSqlite.connect(":memory:", sqliteOptions);
  const backends: Backend[] = [postgres, sqlite];
  console.log(backends.length);
  // @ts-expect-error: connect() takes a connection string.
  await BackendPostgres.connect({ url });
  await postgres.stop();
}
