/**
 * The vendored postgres.js (src/postgres/driver) on connections the server
 * closed: a statement sent on such a connection rejects with a catchable
 * CONNECTION_CLOSED, never throws where nothing can catch it nor waits for
 * good, and the connection's next use reconnects. See
 * src/postgres/driver/README.md for the patch these tests hold in place.
 */

import assert from "node:assert/strict";
import net from "node:net";
import postgres from "postgres";
import { DATABASE_URL, delay, postgresTarget } from "../helpers.ts";
import { TcpProxy } from "./tcp_proxy.ts";
import { catchUncaught } from "./uncaught.ts";

const ignore = postgresTarget.unavailable !== null;

/** How long a statement may take here before the test calls it hung. */
const HUNG_MS = 5_000;

/**
 * Runs `fn` with a pool of the driver through a fresh proxy; asserts that
 * no error went uncaught meanwhile (one thrown from a timer or an immediate
 * would end the process).
 */
async function withPool(
  fn: (sql: postgres.Sql, proxy: TcpProxy) => Promise<void>,
  options: (proxy: TcpProxy) => Record<string, unknown> = () => ({}),
): Promise<void> {
  const proxy = TcpProxy.start();
  const sql = postgres(proxy.url, {
    max: 2,
    onnotice: () => {},
    fetch_types: false,
    ...options(proxy),
  });
  const uncaught = catchUncaught();
  try {
    await fn(sql, proxy);
    // An immediate queued by the last statement runs after it settles.
    await delay(50);
  } finally {
    uncaught.stop();
    await sql.end({ timeout: 1 });
    await proxy.close();
  }
  assert.deepEqual(uncaught.errors.map(String), []);
}

/** The outcome of `promise`, or `"hung"` when it takes over `HUNG_MS`. */
async function settle(
  promise: Promise<unknown>,
): Promise<{ value: unknown } | { error: unknown } | "hung"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise.then((value) => ({ value }), (error) => ({ error })),
      new Promise<"hung">((resolve) => {
        timer = setTimeout(() => resolve("hung"), HUNG_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function assertConnectionClosed(
  outcome: Awaited<ReturnType<typeof settle>>,
): void {
  assert.ok(
    outcome !== "hung" && "error" in outcome,
    `expected a rejection, got ${JSON.stringify(outcome)}`,
  );
  const error = outcome.error as { code?: string };
  assert.equal(error.code, "CONNECTION_CLOSED", String(error));
}

/** The rows of a statement, as plain objects in a plain array. */
async function rows(query: Promise<Iterable<unknown>>): Promise<unknown[]> {
  return [...await query];
}

Deno.test({
  ignore,
  name:
    "postgres driver: a statement on a reserved connection the server closed rejects with CONNECTION_CLOSED",
  async fn() {
    await withPool(async (sql, proxy) => {
      // An open connection first: reserve() waits for one to be open
      // (with fetch_types off, opening one for it does not hand it over).
      await sql`SELECT 0`;
      const reserved = await sql.reserve();
      assert.deepEqual(await rows(reserved`SELECT 1 AS one`), [{ one: 1 }]);
      proxy.cut();
      await delay(100); // the driver sees the connection close
      // Upstream 3.4.9 throws a TypeError from an immediate here
      // (porsager/postgres#1208), which ends the process.
      assertConnectionClosed(await settle(reserved`SELECT 2`));
      assertConnectionClosed(await settle(reserved`SELECT 3`));
      // The pool still works.
      assert.deepEqual(await rows(sql`SELECT 4 AS four`), [{ four: 4 }]);
    });
  },
});

Deno.test({
  ignore,
  name:
    "postgres driver: a transaction whose connection the server closed rejects, and so does its next statement",
  async fn() {
    await withPool(async (sql, proxy) => {
      let statement: Promise<unknown> | undefined;
      const closed = Promise.withResolvers<void>();
      const transaction = sql.begin(async (tx) => {
        await tx`SELECT 1`;
        proxy.cut();
        await closed.promise;
        // What BackendPostgres's transactions do after a failed statement:
        // send another (postgres.js sends ROLLBACK).
        statement = tx`SELECT 2`;
        await statement;
      });
      transaction.catch(() => {});
      await delay(100); // the driver sees the connection close
      closed.resolve();
      assertConnectionClosed(await settle(transaction));
      await delay(0);
      assert.ok(statement !== undefined);
      assertConnectionClosed(await settle(statement));
      assert.deepEqual(await rows(sql`SELECT 3 AS three`), [{ three: 3 }]);
    });
  },
});

Deno.test({
  ignore,
  name:
    "postgres driver: a connection closed while a write was queued reconnects on its next statement",
  async fn() {
    // The driver's sockets, so that the test can close one at the exact
    // moment it wants: between a write and its flush (an immediate).
    const sockets: net.Socket[] = [];
    // `socket` (a function that returns the connection's socket) is an
    // option of postgres.js that its type declarations leave out.
    const options = (proxy: TcpProxy) => ({
      max: 1,
      connect_timeout: 30,
      socket: () =>
        new Promise<net.Socket>((resolve, reject) => {
          const { hostname, port } = new URL(proxy.url);
          const socket = net.connect(Number(port), hostname);
          socket.once("connect", () => resolve(socket));
          socket.once("error", reject);
          sockets.push(socket);
        }),
    });
    await withPool(async (sql) => {
      assert.deepEqual(await rows(sql`SELECT 1 AS one`), [{ one: 1 }]);
      // The statement is written to the connection's buffer, flushed by an
      // immediate; the socket closes first, reported the way Deno's
      // node:net may report it: "close" before that immediate runs.
      const queued = sql`SELECT 2`.execute();
      await Promise.resolve(); // postgres.js hands the statement over now
      const socket = sockets.at(-1)!;
      socket.destroy();
      socket.emit("close", false);
      assertConnectionClosed(await settle(queued));
      // Upstream 3.4.9 leaves the canceled immediate's handle set: the next
      // connection's startup message is never flushed, and the statement
      // waits for the connect timeout.
      assert.deepEqual(await settle(rows(sql`SELECT 3 AS three`)), {
        value: [{ three: 3 }],
      });
      assert.equal(sockets.length, 2);
    }, options);
  },
});

Deno.test({
  ignore,
  name:
    "postgres driver: statements queued on a reserved connection reject when the server closes it, and release() gives the pool no closed connection",
  async fn() {
    await withPool(async (sql) => {
      await sql`SELECT 0`;
      const reserved = await sql.reserve();
      const [{ pid }] = await reserved<{ pid: number }[]>`
        SELECT pg_backend_pid() AS pid`;
      const admin = postgres(DATABASE_URL, {
        max: 1,
        onnotice: () => {},
      });
      try {
        await admin`SELECT pg_terminate_backend(${pid})`;
      } finally {
        await admin.end({ timeout: 1 });
      }
      // Each statement has a text of its own: each describes its
      // parameters first, and those behind it wait in the reserved
      // connection's own queue. Upstream 3.4.9 leaves them there for good
      // once the connection closes.
      const statements = Array.from(
        { length: 6 },
        (_, i) => reserved.unsafe(`SELECT $1::int + ${i} AS n`, [i]),
      );
      const outcomes = await Promise.all(statements.map(settle));
      for (const outcome of outcomes) {
        assert.ok(
          outcome !== "hung" && "error" in outcome,
          `expected a rejection, got ${JSON.stringify(outcome)}`,
        );
      }
      // Released, the closed connection is not handed out as an open one:
      // the pool's next statements run, on a connection it opens again.
      reserved.release();
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(await settle(rows(sql`SELECT ${i}::int AS n`)), {
          value: [{ n: i }],
        });
      }
    });
  },
});
