import assert from "node:assert/strict";
import { IdleWait } from "../../../src/worker/idle_wait.ts";
import { isSettled, useFakeTime } from "../helpers.ts";
import { isListening } from "../../../src/core/wakeups.ts";
import { connectSqlite, viewOf } from "./backends.ts";

const POLL_MS = 100;
const FALLBACK_MS = 5000;

Deno.test("IdleWait.idleWaitMs() is the poll interval without notifications", async () => {
  await using sqlite = await connectSqlite();
  const idle = new IdleWait(sqlite, POLL_MS, FALLBACK_MS);
  assert.equal(idle.idleWaitMs(), POLL_MS);
});

Deno.test("IdleWait.idleWaitMs() is the fallback interval while notifications are live", async () => {
  await using sqlite = await connectSqlite();
  const view = viewOf(sqlite, { notifications: true });
  const idle = new IdleWait(view.backend, POLL_MS, FALLBACK_MS);
  // The first look subscribes to the backend's notifications.
  assert.equal(idle.idleWaitMs(), POLL_MS);
  view.notify({ kind: "listening", listening: true });
  assert.equal(idle.idleWaitMs(), FALLBACK_MS);
  view.notify({ kind: "listening", listening: false });
  assert.equal(idle.idleWaitMs(), POLL_MS);
});

Deno.test("IdleWait.idleWaitMs() never polls faster while listening than without", async () => {
  await using sqlite = await connectSqlite();
  const view = viewOf(sqlite, { notifications: true });
  const idle = new IdleWait(view.backend, 10_000, FALLBACK_MS);
  assert.equal(isListening(view.backend), false); // subscribes
  view.notify({ kind: "listening", listening: true });
  assert.equal(isListening(view.backend), true);
  assert.equal(idle.idleWaitMs(), 10_000);
});

Deno.test("IdleWait.idleWaitMs() ends at the next due time, in order", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  const idle = new IdleWait(sqlite, 1000, FALLBACK_MS);
  const now = Date.now();
  idle.addDueTime(now + 800);
  idle.addDueTime(now + 300);
  idle.addDueTime(now + 500);
  idle.addDueTime(now + 5000); // past the poll interval
  // Two milliseconds past the due time, for timer and clock granularity.
  assert.equal(idle.idleWaitMs(), 302);
  time.tick(300);
  assert.equal(idle.idleWaitMs(), 202);
  time.tick(200);
  assert.equal(idle.idleWaitMs(), 302);
  time.tick(300);
  assert.equal(idle.idleWaitMs(), 1000);
  time.tick(4000);
  assert.equal(idle.idleWaitMs(), 202);
  time.tick(200);
  assert.equal(idle.idleWaitMs(), 1000);
});

Deno.test("IdleWait.idleWaitMs() polls at the poll interval once a due time passed, even while listening", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  const view = viewOf(sqlite, { notifications: true });
  const idle = new IdleWait(view.backend, POLL_MS, FALLBACK_MS);
  assert.equal(idle.idleWaitMs(), POLL_MS); // subscribes
  view.notify({ kind: "listening", listening: true });
  idle.addDueTime(Date.now() + 1000);
  assert.equal(idle.idleWaitMs(), 1002);
  time.tick(1000);
  assert.equal(idle.idleWaitMs(), POLL_MS);
  assert.equal(idle.idleWaitMs(), FALLBACK_MS);
});

Deno.test("IdleWait.idleWaitMs() drops due times already past", async () => {
  await using sqlite = await connectSqlite();
  using _time = useFakeTime();
  const idle = new IdleWait(sqlite, 1000, FALLBACK_MS);
  idle.addDueTime(Date.now() - 10);
  idle.addDueTime(Date.now());
  assert.equal(idle.idleWaitMs(), 1000);
  assert.equal(idle.idleWaitMs(), 1000);
});

Deno.test("IdleWait remembers at most 1024 due times, dropping the latest", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  const idle = new IdleWait(sqlite, 1000, FALLBACK_MS);
  const now = Date.now();
  for (let i = 1; i <= 1025; i++) idle.addDueTime(now + i);
  time.tick(1024);
  assert.equal(idle.idleWaitMs(), 1000); // now + 1025 was dropped
});

Deno.test("IdleWait counts a due time added twice once", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  const idle = new IdleWait(sqlite, 1000, FALLBACK_MS);
  const now = Date.now();
  for (let i = 1; i <= 1023; i++) idle.addDueTime(now + i);
  idle.addDueTime(now + 1); // a duplicate takes no room...
  idle.addDueTime(now + 1024); // ...so this one is kept
  time.tick(1023);
  assert.equal(idle.idleWaitMs(), 3);
});

Deno.test("IdleWait.sleep() ends after ms", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  const idle = new IdleWait(sqlite, POLL_MS, FALLBACK_MS);
  const slept = idle.sleep(100, new AbortController().signal);
  time.tick(99);
  assert.equal(await isSettled(slept), false);
  time.tick(1);
  assert.equal(await isSettled(slept), true);
});

Deno.test("IdleWait.sleep() ends on wake()", async () => {
  await using sqlite = await connectSqlite();
  using _time = useFakeTime();
  const idle = new IdleWait(sqlite, POLL_MS, FALLBACK_MS);
  const slept = idle.sleep(60_000, new AbortController().signal);
  assert.equal(await isSettled(slept), false);
  idle.wake();
  assert.equal(await isSettled(slept), true);
});

Deno.test("IdleWait.wake() while not sleeping ends the next sleep at once, once", async () => {
  await using sqlite = await connectSqlite();
  using _time = useFakeTime();
  const idle = new IdleWait(sqlite, POLL_MS, FALLBACK_MS);
  const signal = new AbortController().signal;
  idle.wake();
  assert.equal(await isSettled(idle.sleep(60_000, signal)), true);
  assert.equal(await isSettled(idle.sleep(60_000, signal)), false);
});

Deno.test("IdleWait.sleep() ends when its signal aborts", async () => {
  await using sqlite = await connectSqlite();
  using _time = useFakeTime();
  const idle = new IdleWait(sqlite, POLL_MS, FALLBACK_MS);
  const controller = new AbortController();
  const slept = idle.sleep(60_000, controller.signal);
  controller.abort();
  assert.equal(await isSettled(slept), true);
  assert.equal(
    await isSettled(idle.sleep(60_000, controller.signal)),
    true,
  );
});

Deno.test("IdleWait.addDueTime() before the end of the sleep under way wakes it", async () => {
  await using sqlite = await connectSqlite();
  using _time = useFakeTime();
  const idle = new IdleWait(sqlite, POLL_MS, FALLBACK_MS);
  const slept = idle.sleep(1000, new AbortController().signal);
  idle.addDueTime(Date.now() + 1000); // not before its end
  assert.equal(await isSettled(slept), false);
  idle.addDueTime(Date.now() + 999);
  assert.equal(await isSettled(slept), true);
});

Deno.test("IdleWait.addDueTime() while not sleeping does not cut the next sleep short", async () => {
  await using sqlite = await connectSqlite();
  using time = useFakeTime();
  const idle = new IdleWait(sqlite, POLL_MS, FALLBACK_MS);
  const signal = new AbortController().signal;
  const first = idle.sleep(10, signal);
  time.tick(10);
  await first;
  idle.addDueTime(Date.now() + 5); // the next idleWaitMs() takes it in
  assert.equal(await isSettled(idle.sleep(1000, signal)), false);
  assert.equal(idle.idleWaitMs(), 7);
});
