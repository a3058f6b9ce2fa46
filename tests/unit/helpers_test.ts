import assert from "node:assert/strict";
import {
  FAKE_START_MS,
  isSettled,
  unhandledRejections,
  useFakeTime,
} from "./helpers.ts";

Deno.test("useFakeTime() fakes setTimeout, clearTimeout, Date and performance.now", () => {
  using time = useFakeTime();
  assert.equal(Date.now(), FAKE_START_MS);
  assert.equal(new Date().getTime(), FAKE_START_MS);
  assert.equal(performance.now(), 0);
  const fired: string[] = [];
  setTimeout(() => fired.push("a"), 100);
  const cleared = setTimeout(() => fired.push("b"), 50);
  clearTimeout(cleared);
  time.tick(99);
  assert.deepEqual(fired, []);
  assert.equal(Date.now(), FAKE_START_MS + 99);
  assert.equal(performance.now(), 99);
  time.tick(1);
  assert.deepEqual(fired, ["a"]);
  time.tick(1000);
  assert.deepEqual(fired, ["a"]);
});

Deno.test("useFakeTime() gives the real clock back when disposed", () => {
  {
    using time = useFakeTime();
    time.tick(10);
  }
  assert.ok(Math.abs(Date.now() - new Date().getTime()) < 1000);
  assert.ok(Date.now() < FAKE_START_MS);
  assert.equal(
    Object.getOwnPropertyDescriptor(performance, "now"),
    undefined,
  );
});

Deno.test("useFakeTime() fires an over-limit setTimeout at once, like a real one", () => {
  // What makes setLongTimeout necessary, and testable with fake time.
  using time = useFakeTime();
  let fired = false;
  setTimeout(() => fired = true, 2 ** 31);
  time.tick(1);
  assert.ok(fired);
});

Deno.test("isSettled() tells a settled promise from a pending one", async () => {
  assert.equal(await isSettled(Promise.resolve(1)), true);
  assert.equal(await isSettled(Promise.reject(new Error("x"))), true);
  assert.equal(await isSettled(new Promise(() => {})), false);
});

Deno.test("unhandledRejections() sees a rejection nobody handles", async () => {
  const reason = new Error("nobody listens");
  const reasons = await unhandledRejections(() => {
    Promise.reject(reason);
  });
  assert.deepEqual(reasons, [reason]);
});

Deno.test("unhandledRejections() lets handled rejections be", async () => {
  const reasons = await unhandledRejections(async () => {
    await Promise.reject(new Error("handled")).catch(() => {});
  });
  assert.deepEqual(reasons, []);
});
