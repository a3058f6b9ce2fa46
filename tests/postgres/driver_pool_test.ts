/**
 * The vendored driver's pool hands a statement the connection idle the
 * shortest: under light load the same warm connection answers, instead of
 * each statement going to the connection idle the longest.
 */

import assert from "node:assert/strict";
import postgres from "../../src/postgres/driver/index.js";
import { DATABASE_URL } from "../helpers.ts";

Deno.test("the pool gives sequential statements the connection idle the shortest", async () => {
  const sql = postgres(DATABASE_URL, { max: 4, onnotice: () => {} });
  try {
    // Four statements at once open the four connections.
    const opened = await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          sql<
            { pid: number }[]
          >`SELECT pg_backend_pid() AS pid, pg_sleep(0.05)`,
      ),
    );
    assert.equal(new Set(opened.map(([row]) => row.pid)).size, 4);
    const pids: number[] = [];
    for (let i = 0; i < 12; i++) {
      const [row] = await sql<
        { pid: number }[]
      >`SELECT pg_backend_pid() AS pid`;
      pids.push(row.pid);
    }
    assert.equal(new Set(pids).size, 1, `pids: ${pids.join(", ")}`);
    // A reserved connection is the most recently idle one too, and goes
    // back to the pool as the most recently idle once released.
    const reserved = await sql.reserve();
    const [{ pid }] = await reserved<
      { pid: number }[]
    >`SELECT pg_backend_pid() AS pid`;
    assert.equal(pid, pids[0]);
    reserved.release();
    const [after] = await sql<
      { pid: number }[]
    >`SELECT pg_backend_pid() AS pid`;
    assert.equal(after.pid, pids[0]);
  } finally {
    await sql.end();
  }
});
