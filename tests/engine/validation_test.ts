import assert from "node:assert/strict";
import {
  BackendError,
  NotJsonError,
  OpenWorkflow,
  Worker,
  WorkflowFailedError,
} from "../../mod.ts";
import { BackendPostgres } from "../../backend_postgres.ts";
import { DATABASE_URL, postgresTarget, testEachBackend } from "../helpers.ts";

testEachBackend(
  "non-JSON input is rejected with a TypeError and nothing is written",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "strict-input" }, () => null);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cases: [unknown, RegExp][] = [
      [() => 1, /input of workflow 'strict-input'.*function/],
      [{ f: () => 1 }, /input of workflow 'strict-input': 'f' is a function/],
      [Symbol("s"), /symbol/],
      [{ n: 10n }, /'n' is a bigint/],
      [[1, [2, 3n]], /'\[1\]\[1\]' is a bigint/],
      [cyclic, /'self' refers back .*cyclic/],
    ];
    for (const [input, message] of cases) {
      await assert.rejects(
        wf.run(input),
        (e) => e instanceof TypeError && message.test(e.message),
      );
    }
    assert.deepEqual((await ow.listRuns()).runs, []);
  },
);

testEachBackend(
  "invalid run options are rejected and nothing is written",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "strict-options" }, () => null);
    await assert.rejects(
      wf.run(1, { deadlineAt: new Date("nope") }),
      (e) =>
        e instanceof TypeError &&
        /'deadlineAt' must be a valid Date, received Invalid Date/.test(
          e.message,
        ),
    );
    await assert.rejects(
      wf.run(1, { deadlineAt: "tomorrow" as unknown as Date }),
      (e) =>
        e instanceof TypeError && /'deadlineAt'.*"tomorrow"/.test(e.message),
    );
    await assert.rejects(
      wf.run(1, { idempotencyKey: 42 as unknown as string }),
      (e) =>
        e instanceof TypeError &&
        /'idempotencyKey' must be a string, received 42/.test(e.message),
    );
    await assert.rejects(
      wf.run(1, { availableAt: -5 }),
      (e) => e instanceof RangeError && /availableAt/.test(e.message),
    );
    await assert.rejects(
      wf.run(1, { availableAt: "soon" }),
      (e) => e instanceof TypeError && /availableAt.*"soon"/.test(e.message),
    );
    assert.deepEqual((await ow.listRuns()).runs, []);
  },
);

testEachBackend(
  "a step returning a non-JSON value fails with a NotJsonError (a TypeError) naming the step",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    let calls = 0;
    const seen: boolean[] = [];
    const wf = ow.defineWorkflow({ name: "bad-output" }, async ({ step }) => {
      try {
        await step.run({ name: "returns-function" }, () => {
          calls++;
          return { callback: () => 1 };
        });
      } catch (error) {
        seen.push(error instanceof NotJsonError && error instanceof TypeError);
        await step.sleep("replay", 200); // the next execution replays the failure
        throw error;
      }
    });
    const handle = await wf.run();
    const worker = ow.newWorker({ pollIntervalMs: 20 });
    await worker.start();
    const error = await handle.result().then(() => null, (e) => e);
    await worker.stop();
    assert.deepEqual(seen, [true, true], "a TypeError, also when replayed");
    assert.ok(error instanceof WorkflowFailedError);
    const cause = error.cause as Error;
    assert.ok(cause instanceof TypeError);
    assert.ok(cause instanceof NotJsonError);
    assert.equal(cause.name, "NotJsonError");
    assert.match(
      cause.message,
      /output of step 'returns-function': 'callback' is a function/,
    );
    assert.equal(calls, 1, "a non-JSON output is not retried");
  },
);

testEachBackend(
  "a workflow returning a non-JSON value fails with a TypeError",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    const wf = ow.defineWorkflow({ name: "bad-return" }, () => ({ big: 1n }));
    const handle = await wf.run();
    await ow.newWorker().tick();
    const error = await handle.result().then(() => null, (e) => e);
    assert.ok(error instanceof WorkflowFailedError);
    assert.match(
      (error.cause as Error).message,
      /output of workflow 'bad-return': 'big' is a bigint/,
    );
  },
);

testEachBackend(
  "bad names and options are rejected with errors that name them",
  async ({ backend }) => {
    const ow = new OpenWorkflow({ backend });
    assert.throws(
      () => ow.defineWorkflow({ name: "" }, () => 1),
      (e) =>
        e instanceof TypeError &&
        /'name' must be a non-empty string, received ""/.test(e.message),
    );
    assert.throws(
      () => ow.defineWorkflow({ name: 7 as unknown as string }, () => 1),
      (e) => e instanceof TypeError && /received 7/.test(e.message),
    );
    assert.throws(
      () => ow.defineWorkflow({ name: "x".repeat(10_000) }, () => 1),
      (e) =>
        e instanceof RangeError &&
        /at most 1024 characters, received 10000/.test(e.message),
    );
    assert.throws(
      () => ow.defineWorkflow({ name: "nul\u0000" }, () => 1),
      (e) => e instanceof TypeError && /NUL/.test(e.message),
    );
    assert.throws(
      () => ow.defineWorkflow({ name: "no-fn" }, "nope" as never),
      (e) =>
        e instanceof TypeError && /'fn' must be a function/.test(e.message),
    );
    ow.defineWorkflow({ name: "twice" }, () => 1);
    assert.throws(
      () => ow.defineWorkflow({ name: "twice" }, () => 2),
      (e) =>
        e instanceof TypeError &&
        /'name' "twice" is already defined/.test(e.message),
    );
    ow.defineWorkflow({ name: "twice", version: "2" }, () => 2); // another version is fine
    for (const concurrency of [0, -1, 1.5, NaN, "2"]) {
      assert.throws(
        () => ow.newWorker({ concurrency: concurrency as number }),
        (e) =>
          e instanceof RangeError &&
          e.message.startsWith(
            "Cannot create worker: 'concurrency' must be a positive integer, received",
          ),
      );
    }
    assert.throws(
      () => new Worker({ backend: null as never, workflows: [] }),
      (e) => e instanceof TypeError && /'backend'/.test(e.message),
    );
    assert.throws(
      () => new OpenWorkflow({} as never),
      (e) => e instanceof TypeError && /'backend'/.test(e.message),
    );
    const fn = () => null;
    const badWorkers: [unknown, RegExp][] = [
      [
        { workflows: [null] },
        /'workflows\[0\]' must be a workflow definition, received null/,
      ],
      [
        { workflows: [{}] },
        /'workflows\[0\]\.name' must be a non-empty string/,
      ],
      [
        { workflows: [{ name: "w" }] },
        /'workflows\[0\]\.fn' must be a function, received undefined/,
      ],
      [
        { workflows: [{ name: "w", fn, version: 2 }] },
        /'workflows\[0\]\.version' must be a string/,
      ],
      [
        { workflows: [{ name: "w", fn, version: null }, { name: "w", fn }] },
        /'workflows' lists workflow 'w' twice/,
      ],
      [
        { workflows: [], workerId: "" },
        /'workerId' must be a non-empty string, received ""/,
      ],
      [
        { workflows: [], workerId: 5 },
        /'workerId' must be a non-empty string, received 5/,
      ],
      [
        { workflows: [], maxPayloadBytes: -1 },
        /'maxPayloadBytes' must be a positive integer, received -1/,
      ],
    ];
    for (
      const argument of [
        "leaseDurationMs",
        "pollIntervalMs",
        "fallbackPollIntervalMs",
      ]
    ) {
      badWorkers.push([
        { workflows: [], [argument]: 3e9 },
        new RegExp(
          `'${argument}' must be a positive number of milliseconds, at most 2147483647 \\(about 24.8 days\\), received 3000000000`,
        ),
      ]);
    }
    for (const [options, message] of badWorkers) {
      assert.throws(
        () => new Worker({ backend, ...options as object } as never),
        (e) =>
          e instanceof Error && e.message.startsWith("Cannot create worker") &&
          message.test(e.message),
        String(message),
      );
    }
    assert.throws(
      () => ow.newWorker(null as never),
      (e) =>
        e instanceof TypeError &&
        /'options' must be an object, received null/.test(e.message),
    );
    const handle = await ow.defineWorkflow({ name: "waited" }, () => 1).run();
    await assert.rejects(
      handle.result(null as never),
      (e) =>
        e instanceof TypeError &&
        /'options' must be an object, received null/.test(e.message),
    );
    for (const argument of ["timeoutMs", "pollIntervalMs"]) {
      await assert.rejects(
        handle.result({ [argument]: 2 ** 31 }),
        (e) =>
          e instanceof RangeError &&
          e.message.includes(
            `'${argument}' must be a positive number of milliseconds, at most 2147483647`,
          ),
      );
    }
    await assert.rejects(
      handle.result({ signal: {} as never }),
      (e) =>
        e instanceof TypeError &&
        /'signal' must be an AbortSignal, received object/.test(e.message),
    );
    await assert.rejects(
      ow.getRun(""),
      (e) => e instanceof TypeError && /'workflowRunId'/.test(e.message),
    );
    assert.equal(await ow.getRun(crypto.randomUUID()), null);
  },
);

Deno.test("BackendPostgres.connect() rejects malformed URLs, namespaces and schemas", async () => {
  await assert.rejects(
    BackendPostgres.connect("postgresql://localhost/db", null as never),
    (e) =>
      e instanceof TypeError &&
      /'options' must be an object, received null/.test(e.message),
  );
  for (
    const url of [
      "",
      "not a url",
      "mysql://localhost/db",
      5 as unknown as string,
    ]
  ) {
    await assert.rejects(
      BackendPostgres.connect(url),
      (e) =>
        e instanceof TypeError &&
        /'connectionString' must be a postgres/.test(e.message),
    );
  }
  await assert.rejects(
    BackendPostgres.connect("postgresql://user:secret@localhost/db?x=%zz", {
      namespaceId: "",
    }),
    (e) =>
      e instanceof TypeError && /'namespaceId'/.test(e.message) &&
      !e.message.includes("secret"),
  );
  await assert.rejects(
    BackendPostgres.connect("postgresql://localhost/db", {
      namespaceId: "x".repeat(300),
    }),
    (e) =>
      e instanceof RangeError &&
      /'namespaceId' must be at most 255/.test(e.message),
  );
  await assert.rejects(
    BackendPostgres.connect("postgresql://localhost/db", {
      schema: "Robert'); DROP",
    }),
    (e) => e instanceof TypeError && /'schema'/.test(e.message),
  );
});

Deno.test({
  name:
    "BackendPostgres.connect() to a missing database says where and what, without the password",
  ignore: postgresTarget.unavailable !== null,
  async fn() {
    const url = new URL(DATABASE_URL);
    url.password = "s3cret";
    url.pathname = `/openworkflow_missing_${crypto.randomUUID().slice(0, 8)}`;
    await assert.rejects(
      BackendPostgres.connect(url.href),
      (e) =>
        e instanceof BackendError &&
        e.problem === "not-found" &&
        e.location === url.href.replace(":s3cret@", ":***@") &&
        /does not exist/.test(e.message) &&
        !e.message.includes("s3cret"),
    );
  },
});
