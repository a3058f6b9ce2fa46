import assert from "node:assert/strict";
import { WorkflowFailedError } from "../mod.ts";
import { main as basic } from "../examples/basic.ts";
import { main as typed } from "../examples/typed.ts";
import { main as parallel } from "../examples/parallel.ts";
import { main as errorHandling } from "../examples/error_handling.ts";
import { testEachBackend } from "./helpers.ts";

testEachBackend("examples/basic.ts greets Alice", async ({ backend }) => {
  assert.deepEqual(await basic(backend), { greeting: "Hello, Alice!" });
});

testEachBackend("examples/typed.ts sends the email", async ({ backend }) => {
  const output = await typed(backend);
  assert.match(output.emailId, /^email-\d+$/);
  assert.ok(!Number.isNaN(Date.parse(output.sentAt)));
});

testEachBackend(
  "examples/parallel.ts gathers three results",
  async ({ backend }) => {
    assert.deepEqual(await parallel(backend), {
      user: { id: "u-1", name: "Ada" },
      settings: { theme: "dark" },
      subscription: { plan: "pro" },
    });
  },
);

testEachBackend(
  "examples/error_handling.ts logs, rethrows and fails the run",
  async ({ backend }) => {
    const outcome = await errorHandling(backend);
    assert.ok(outcome.error instanceof WorkflowFailedError);
    assert.equal((outcome.error.cause as Error).message, "service unavailable");
    assert.deepEqual(outcome.logged.slice(-1), ["Error: service unavailable"]);
    assert.equal(outcome.calls % 2, 0, "two attempts per run of the example");
  },
);
