import assert from "node:assert/strict";
import { CronSchedule, MAX_CATCH_UP_SLOTS } from "../../../src/core/cron.ts";

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

Deno.test("CronSchedule fires a daily slot once on the days daylight saving starts and ends", () => {
  const cron = new CronSchedule("30 2 * * *", "Europe/Berlin", "test");
  // 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist.
  const spring = cron.due(
    new Date("2026-03-27T00:00:00Z"),
    new Date("2026-03-31T00:00:00Z"),
    "all",
  );
  assert.deepEqual(iso(spring.fire), [
    "2026-03-27T01:30:00.000Z", // 02:30 CET
    "2026-03-28T01:30:00.000Z",
    "2026-03-29T01:30:00.000Z", // the skipped 02:30, fired once, at 03:30 CEST
    "2026-03-30T00:30:00.000Z", // 02:30 CEST
  ]);
  // 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice.
  const autumn = cron.due(
    new Date("2026-10-24T00:00:00Z"),
    new Date("2026-10-27T00:00:00Z"),
    "all",
  );
  assert.deepEqual(iso(autumn.fire), [
    "2026-10-24T00:30:00.000Z",
    "2026-10-25T01:30:00.000Z", // once, not twice
    "2026-10-26T01:30:00.000Z",
  ]);
  assert.equal(autumn.next?.toISOString(), "2026-10-27T01:30:00.000Z");
});

Deno.test("CronSchedule.due() thins missed slots by catch-up", () => {
  const cron = new CronSchedule("0 * * * *", "UTC", "test");
  const from = new Date("2026-01-01T00:00:00Z");
  const now = new Date("2026-01-01T05:00:30Z");
  assert.deepEqual(iso(cron.due(from, now, "latest").fire), [
    "2026-01-01T05:00:00.000Z",
  ]);
  assert.deepEqual(iso(cron.due(from, now, "none").fire), [
    "2026-01-01T05:00:00.000Z", // 30 s late: within the minute of grace
  ]);
  assert.deepEqual(
    iso(cron.due(from, new Date("2026-01-01T05:02:00Z"), "none").fire),
    [],
  );
  assert.equal(cron.due(from, now, "all").fire.length, 6);
  assert.equal(
    cron.due(from, now, "all").next?.toISOString(),
    "2026-01-01T06:00:00.000Z",
  );
  const many = cron.due(from, new Date("2027-01-01T00:00:00Z"), "all").fire;
  assert.equal(many.length, MAX_CATCH_UP_SLOTS, "bounded, keeping the latest");
  assert.equal(many.at(-1)?.toISOString(), "2027-01-01T00:00:00.000Z");
});

Deno.test("CronSchedule takes seconds fields and nicknames, and refuses bad input with typed errors", () => {
  const seconds = new CronSchedule("*/15 * * * * *", "UTC", "test");
  assert.equal(
    seconds.next(new Date("2026-01-01T00:00:01Z"))?.toISOString(),
    "2026-01-01T00:00:15.000Z",
  );
  const daily = new CronSchedule("@daily", "America/New_York", "test");
  assert.equal(
    daily.next(new Date("2026-01-01T12:00:00Z"))?.toISOString(),
    "2026-01-02T05:00:00.000Z",
  );
  assert.throws(
    () => new CronSchedule("0 25 * * *", "UTC", "create schedule"),
    (e) =>
      e instanceof TypeError &&
      e.message.startsWith("Cannot create schedule: 'cron' \"0 25 * * *\""),
  );
  assert.throws(
    () => new CronSchedule("0 3 * * *", "Europe/Atlantis", "create schedule"),
    (e) => e instanceof RangeError && /Europe\/Atlantis/.test(e.message),
  );
});
