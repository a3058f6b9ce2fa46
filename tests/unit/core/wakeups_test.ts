import assert from "node:assert/strict";
import {
  finishedSince,
  isListening,
  markFinishes,
  notifyFinished,
} from "../../../src/core/wakeups.ts";
import { connectSqlite, viewOf } from "../worker/backends.ts";

Deno.test("markFinishes() has no mark unless notifications are live and tell every finish", async () => {
  await using sqlite = await connectSqlite();
  const view = viewOf(sqlite, { notifications: true });
  assert.equal(markFinishes(view.backend), null);
  view.notify({ kind: "listening", listening: true });
  assert.equal(markFinishes(view.backend), null);
  view.notify({ kind: "listening", listening: true, finishes: true });
  assert.notEqual(markFinishes(view.backend), null);
  view.notify({ kind: "listening", listening: false, finishes: true });
  assert.equal(markFinishes(view.backend), null);
});

Deno.test("finishedSince() tells the runs heard finished since a mark, and only while nothing may have gone untold", async () => {
  await using sqlite = await connectSqlite();
  const view = viewOf(sqlite, { notifications: true });
  const backend = view.backend;
  isListening(backend); // subscribes
  view.notify({ kind: "listening", listening: true, finishes: true });
  const mark = markFinishes(backend)!;
  assert.equal(finishedSince(backend, mark, "a"), false);
  notifyFinished(backend, "a");
  view.notify({
    kind: "finished",
    workflowRunId: "b",
    outcome: { status: "succeeded", output: 1, error: null },
  });
  assert.equal(finishedSince(backend, mark, "a"), true);
  assert.equal(finishedSince(backend, mark, "b"), true);
  assert.equal(finishedSince(backend, mark, "c"), false);
  // Another process changed the database without saying which runs.
  view.notify({ kind: "changed" });
  assert.equal(finishedSince(backend, mark, "c"), undefined);
  const later = markFinishes(backend)!;
  assert.equal(finishedSince(backend, later, "c"), false);
  // Notifications went down, then came back.
  view.notify({ kind: "listening", listening: false, finishes: true });
  assert.equal(finishedSince(backend, later, "c"), undefined);
  view.notify({ kind: "listening", listening: true, finishes: true });
  assert.equal(finishedSince(backend, later, "c"), undefined);
});

Deno.test("finishedSince() cannot tell once more finishes were heard since the mark than are remembered", async () => {
  await using sqlite = await connectSqlite();
  const view = viewOf(sqlite, { notifications: true });
  const backend = view.backend;
  isListening(backend);
  view.notify({ kind: "listening", listening: true, finishes: true });
  for (let i = 0; i < 5_000; i++) notifyFinished(backend, `old-${i}`);
  // Finishes forgotten before the mark do not matter.
  const mark = markFinishes(backend)!;
  for (let i = 0; i < 4_000; i++) notifyFinished(backend, `new-${i}`);
  assert.equal(finishedSince(backend, mark, "new-0"), true);
  assert.equal(finishedSince(backend, mark, "other"), false);
  for (let i = 4_000; i < 5_000; i++) notifyFinished(backend, `new-${i}`);
  // new-0 is forgotten: whether "other" finished cannot be told.
  assert.equal(finishedSince(backend, mark, "other"), undefined);
});
