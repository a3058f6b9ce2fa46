import assert from "node:assert/strict";
import { decodeCursor, encodeCursor, toPage } from "../../../src/sql/cursor.ts";
import type { WorkflowRun } from "../../../src/core/backend.ts";
import { MIN_TIME_MS } from "../../../src/core/duration.ts";

const ID = "0190f4a2-7b1c-7def-8a01-23456789abcd";

Deno.test("encodeCursor() makes URL-safe base64 without padding", () => {
  // '?' and '>' give the base64 digits '/' and '+'; these lengths, padding.
  for (const text of ["?", ">", "?>", "??>", "2024-01-01T00:00:00.1Z"]) {
    const standard = btoa(JSON.stringify([text, ID]));
    assert.match(standard, /[+/=]/);
    const cursor = encodeCursor(text, ID);
    assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    assert.equal(
      cursor,
      standard.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, ""),
    );
  }
});

Deno.test("decodeCursor() reads back what encodeCursor() made", () => {
  const times = ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.1Z"];
  const ids = [ID, ID.toUpperCase(), "ffffffff-ffff-ffff-ffff-ffffffffffff"];
  for (const time of times) {
    for (const id of ids) {
      assert.deepEqual(decodeCursor(encodeCursor(time, id)), {
        createdAt: time,
        createdAtMs: Date.parse(time),
        id,
      });
    }
  }
});

Deno.test("decodeCursor() round-trips times with 0 to 6 fractional digits", () => {
  const cases: [string, number][] = [
    ["2024-03-05T06:07:08Z", Date.UTC(2024, 2, 5, 6, 7, 8, 0)],
    ["2024-03-05T06:07:08.1Z", Date.UTC(2024, 2, 5, 6, 7, 8, 100)],
    ["2024-03-05T06:07:08.12Z", Date.UTC(2024, 2, 5, 6, 7, 8, 120)],
    ["2024-03-05T06:07:08.123Z", Date.UTC(2024, 2, 5, 6, 7, 8, 123)],
    ["2024-03-05T06:07:08.1234Z", Date.UTC(2024, 2, 5, 6, 7, 8, 123)],
    ["2024-03-05T06:07:08.12345Z", Date.UTC(2024, 2, 5, 6, 7, 8, 123)],
    ["2024-03-05T06:07:08.999999Z", Date.UTC(2024, 2, 5, 6, 7, 8, 999)],
    ["2024-03-05T06:07:08.000001Z", Date.UTC(2024, 2, 5, 6, 7, 8, 0)],
  ];
  for (const [createdAt, createdAtMs] of cases) {
    assert.deepEqual(
      decodeCursor(encodeCursor(createdAt, ID)),
      { createdAt, createdAtMs, id: ID },
      createdAt,
    );
  }
});

Deno.test("decodeCursor() accepts the extremes of years 1 to 9999 and leap days", () => {
  const cases: [string, number][] = [
    ["0001-01-01T00:00:00Z", MIN_TIME_MS],
    ["0099-12-31T23:59:59Z", Date.parse("0099-12-31T23:59:59Z")],
    ["9999-12-31T23:59:59.999999Z", Date.parse("9999-12-31T23:59:59.999Z")],
    ["2024-02-29T12:00:00Z", Date.UTC(2024, 1, 29, 12)],
    ["2000-02-29T00:00:00Z", Date.UTC(2000, 1, 29)],
  ];
  for (const [createdAt, createdAtMs] of cases) {
    assert.equal(
      decodeCursor(encodeCursor(createdAt, ID)).createdAtMs,
      createdAtMs,
      createdAt,
    );
  }
});

Deno.test("decodeCursor() keeps an upper-case id as it is", () => {
  const id = ID.toUpperCase();
  assert.equal(decodeCursor(encodeCursor("2024-01-01T00:00:00Z", id)).id, id);
});

function assertRejected(cursor: string, label = cursor): void {
  assert.throws(
    () => decodeCursor(cursor),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message.startsWith(
        "Cannot list runs: 'cursor' is not a cursor returned by a listing, received ",
      ),
    label,
  );
}

Deno.test("decodeCursor() rejects garbage with TypeError", () => {
  for (const cursor of ["", "!!!", "not a cursor", "%%%%", "a", "é"]) {
    assertRejected(cursor);
  }
});

Deno.test("decodeCursor() rejects JSON of the wrong shape with TypeError", () => {
  const time = "2024-01-01T00:00:00Z";
  const values: unknown[] = [
    null,
    42,
    "text",
    { createdAt: time, id: ID },
    [],
    [time],
    [time, ID, "extra"],
    [ID, time],
    [Date.parse(time), ID],
    [time, null],
  ];
  for (const value of values) {
    const base64 = btoa(JSON.stringify(value));
    assertRejected(base64, JSON.stringify(value));
  }
  assertRejected(btoa("[not json"), "not JSON");
});

Deno.test("decodeCursor() rejects an id that is not a UUID with TypeError", () => {
  const time = "2024-01-01T00:00:00Z";
  for (
    const id of [
      "",
      "run-1",
      ID.slice(1),
      `${ID}0`,
      ID.replaceAll("-", ""),
      `{${ID}}`,
      ID.replace("a", "g"),
    ]
  ) {
    assertRejected(encodeCursor(time, id), id);
  }
});

Deno.test("decodeCursor() rejects an impossible or malformed time with TypeError", () => {
  const times = [
    "2023-02-29T00:00:00Z", // not a leap year
    "1900-02-29T00:00:00Z", // not a leap year either
    "2024-02-30T00:00:00Z",
    "2024-04-31T00:00:00Z",
    "2024-13-01T00:00:00Z",
    "2024-00-10T00:00:00Z",
    "2024-01-00T00:00:00Z",
    "2024-01-01T24:00:00Z",
    "2024-01-01T23:60:00Z",
    "2024-01-01T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "2024-01-01T00:00:00.1234567Z",
    "2024-01-01T00:00:00.Z",
    "2024-01-01T00:00:00",
    "2024-01-01T00:00:00z",
    "2024-01-01T00:00:00+00:00",
    "2024-01-01 00:00:00Z",
    "24-01-01T00:00:00Z",
    "+02024-01-01T00:00:00Z",
    " 2024-01-01T00:00:00Z",
    "",
  ];
  for (const time of times) assertRejected(encodeCursor(time, ID), time);
});

Deno.test("decodeCursor() names a short received cursor, and the length of a long one", () => {
  assert.throws(() => decodeCursor("abc!"), /received "abc!"$/);
  assert.throws(
    () => decodeCursor("x".repeat(100)),
    /received a string of 100 characters$/,
  );
});

// toPage

interface Row {
  n: number;
}

const toRun = (row: Row) => ({ id: `run-${row.n}` }) as unknown as WorkflowRun;
const cursorOf = (row: Row): [string, string] => [
  `2024-01-01T00:00:${String(row.n).padStart(2, "0")}Z`,
  `00000000-0000-0000-0000-0000000000${String(row.n).padStart(2, "0")}`,
];
const rows = (count: number): Row[] =>
  Array.from({ length: count }, (_, n) => ({ n }));

Deno.test("toPage() of limit + 1 rows pages limit runs, with a cursor from the page's last row", () => {
  const page = toPage(rows(4), 3, toRun, cursorOf);
  assert.deepEqual(page.runs.map((run) => run.id), ["run-0", "run-1", "run-2"]);
  assert.notEqual(page.nextCursor, null);
  assert.equal(page.nextCursor, encodeCursor(...cursorOf({ n: 2 })));
  assert.deepEqual(decodeCursor(page.nextCursor!), {
    createdAt: "2024-01-01T00:00:02Z",
    createdAtMs: Date.UTC(2024, 0, 1, 0, 0, 2),
    id: "00000000-0000-0000-0000-000000000002",
  });
});

Deno.test("toPage() of exactly limit rows has no next cursor", () => {
  const page = toPage(rows(3), 3, toRun, cursorOf);
  assert.equal(page.runs.length, 3);
  assert.equal(page.nextCursor, null);
});

Deno.test("toPage() of fewer rows than the limit has no next cursor", () => {
  const page = toPage(rows(1), 3, toRun, cursorOf);
  assert.deepEqual(page.runs.map((run) => run.id), ["run-0"]);
  assert.equal(page.nextCursor, null);
});

Deno.test("toPage() of no rows is an empty page", () => {
  let calls = 0;
  const page = toPage<Row>([], 5, (row) => {
    calls++;
    return toRun(row);
  }, (row) => {
    calls++;
    return cursorOf(row);
  });
  assert.deepEqual(page, { runs: [], nextCursor: null });
  assert.equal(calls, 0);
});

Deno.test("toPage() converts only the rows of the page", () => {
  const converted: number[] = [];
  toPage(rows(3), 2, (row) => {
    converted.push(row.n);
    return toRun(row);
  }, cursorOf);
  assert.deepEqual(converted, [0, 1]);
});
