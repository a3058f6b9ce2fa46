/**
 * The status reads of waiting `result()` calls: one read in flight per
 * backend, a lone one sent at the next turn, those asked for meanwhile together.
 */

import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { OpenWorkflow } from "../../../mod.ts";
import { BackendSqlite } from "../../../backend_sqlite.ts";
import {
  MAX_STATUS_READ_IDS,
  readStatus,
} from "../../../src/client/status_reads.ts";
import type { GetWorkflowRunStatusesParams } from "../../../src/core/backend.ts";
import { delay } from "../../helpers.ts";
import { viewOf } from "../worker/backends.ts";

Deno.test("a lone status read goes out alone; those asked for while it is in flight go together once it is done", async () => {
  await using inner = await BackendSqlite.connect(":memory:");
  const ow = new OpenWorkflow({ backend: inner });
  const idle = ow.defineWorkflow({ name: "idle" }, () => null);
  const [a, b, c] = await Promise.all([idle.run(), idle.run(), idle.run()]);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const { backend, calls } = viewOf(inner, {
    override: {
      getWorkflowRunStatuses: async (params: GetWorkflowRunStatusesParams) => {
        await gate; // held in flight until released
        return await inner.getWorkflowRunStatuses(params);
      },
    },
  });
  const reads = () =>
    (calls.get("getWorkflowRunStatuses") ?? []).map(([params]) =>
      (params as GetWorkflowRunStatusesParams).workflowRunIds
    );
  const first = readStatus(backend, a.id);
  await delay(1);
  assert.deepEqual(reads(), [[a.id]]);
  const others = [readStatus(backend, b.id), readStatus(backend, c.id)];
  await delay(30);
  assert.deepEqual(reads(), [[a.id]]);
  release();
  assert.equal(await first, "pending");
  assert.deepEqual(await Promise.all(others), ["pending", "pending"]);
  assert.deepEqual(reads(), [[a.id], [b.id, c.id]]);
});

Deno.test("a lone status read goes out at the next turn of the event loop, not after a timer", async () => {
  await using inner = await BackendSqlite.connect(":memory:");
  const ow = new OpenWorkflow({ backend: inner });
  const run = await ow.defineWorkflow({ name: "idle" }, () => null).run();
  const { backend, calls } = viewOf(inner);
  const read = readStatus(backend, run.id);
  // One turn: the check phase after this one's I/O, where a timer of 0 ms
  // waits for the next timers phase (1 ms at the earliest).
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(calls.get("getWorkflowRunStatuses")?.length, 1);
  assert.equal(await read, "pending");
});

Deno.test("status reads ask for at most 1,000 runs each, and unknown runs read as null", async () => {
  await using inner = await BackendSqlite.connect(":memory:");
  const { backend, calls } = viewOf(inner);
  const ids = Array.from({ length: 1_500 }, () => crypto.randomUUID());
  const statuses = await Promise.all(ids.map((id) => readStatus(backend, id)));
  assert.ok(statuses.every((status) => status === null));
  const sizes = (calls.get("getWorkflowRunStatuses") ?? []).map(([params]) =>
    (params as GetWorkflowRunStatusesParams).workflowRunIds.length
  );
  assert.deepEqual(sizes, [MAX_STATUS_READ_IDS, 500]);
});
