/**
 * Shared helpers of the scaling benchmarks: scratch databases, an
 * instrumented backend, statistics, process and database counters, tables.
 *
 * @module
 */

import postgres from "postgres";
import type { Sql } from "postgres";
import type { Backend } from "../../mod.ts";

/** The server the benchmarks use unless told otherwise. */
export const DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test";

/** Which backends a part measures. */
export type BackendKind = "postgres" | "sqlite";

/** A scratch Postgres database, dropped by `drop()`. */
export interface ScratchDatabase {
  /** The database's name (`owbench_scale_*`). */
  name: string;
  /** A URL naming the database. */
  url: string;
  /** A connection to the server's maintenance database (not the scratch one). */
  admin: Sql;
  /** Drops the database (terminating its connections) and closes `admin`. */
  drop(): Promise<void>;
}

/**
 * Creates a fresh `owbench_scale_<label>_p<pid>_<random>` database on the
 * server of `baseUrl`. Every counter of `pg_stat_database` for it starts
 * at zero.
 */
export async function createScratchDatabase(
  baseUrl: string,
  label: string,
): Promise<ScratchDatabase> {
  const name = `owbench_scale_${label}_p${Deno.pid}_${
    crypto.randomUUID().slice(0, 8)
  }`.replace(/[^a-z0-9_]/g, "_");
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.toString(),
    admin,
    async drop() {
      if (dropped) return;
      dropped = true;
      try {
        await serverStartedAt(baseUrl); // waits out a restart
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
  };
}

/**
 * Drops the `owbench_scale_*_p<pid>_*` databases whose process is gone
 * (a run killed, or cut short by a server restart, cannot drop its own);
 * returns their names. Databases of live processes are left alone.
 */
export async function dropStaleScratchDatabases(
  baseUrl: string,
): Promise<string[]> {
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await admin`
      SELECT datname FROM pg_database WHERE datname LIKE 'owbench\_scale\_%'`;
    const stale: string[] = [];
    for (const { datname } of rows) {
      const pid = String(datname).match(/_p(\d+)_[0-9a-f]{8}$/)?.[1];
      if (pid === undefined || isAlive(Number(pid))) continue;
      await admin.unsafe(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
      stale.push(String(datname));
    }
    return stale;
  } finally {
    await admin.end({ timeout: 5 });
  }
}

function isAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Counts what disturbed a measurement without failing it: unhandled
 * rejections and uncaught errors (a connection dropped under the engine or
 * the driver). The entry script installs the handlers.
 */
export const disturbances = { count: 0, last: "" };

/** Notes an unhandled rejection or uncaught error. */
export function noteDisturbance(reason: unknown): void {
  disturbances.count++;
  disturbances.last = reason instanceof Error
    ? `${reason.name}: ${reason.message}`
    : String(reason);
}

/** Thrown by a measurement that sees it was disturbed: it is taken again. */
export class Disturbed extends Error {
  override name = "Disturbed";
}

/**
 * When the server last started; waits (up to 2 minutes) while it is
 * restarting.
 */
export async function serverStartedAt(baseUrl: string): Promise<number> {
  const deadline = performance.now() + 120_000;
  while (true) {
    const sql = postgres(baseUrl, {
      max: 1,
      onnotice: () => {},
      connect_timeout: 5,
    });
    try {
      const [row] = await sql`SELECT pg_postmaster_start_time() AS at`;
      return (row.at as Date).getTime();
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await sleep(1000);
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  }
}

/**
 * Runs a Postgres measurement `fn` again (up to `attempts` times in all)
 * when the server restarted meanwhile, or a connection dropped: other test
 * runs on a shared server restart it. `fn` must start from scratch (a
 * fresh database) each time.
 */
export async function retryOnRestart<T>(
  baseUrl: string,
  what: string,
  fn: () => Promise<T>,
  log: (line: string) => void,
  attempts = 3,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    const startedAt = await serverStartedAt(baseUrl);
    const seen = disturbances.count;
    let failure: unknown;
    let result: T | undefined;
    try {
      result = await fn();
    } catch (error) {
      failure = error;
    }
    const restarted = await serverStartedAt(baseUrl) !== startedAt;
    const disturbed = disturbances.count !== seen ||
      failure instanceof Disturbed;
    if (failure instanceof Disturbed) disturbances.last = failure.message;
    if (failure === undefined && !restarted && !disturbed) return result!;
    const why = restarted
      ? "the server restarted"
      : disturbed
      ? `a connection dropped (${disturbances.last})`
      : `it failed (${failure})`;
    if (attempt >= attempts || (!restarted && !disturbed)) {
      throw failure ?? new Error(`${what}: ${why}, ${attempts} times`);
    }
    log(`${what}: ${why}; measuring again (${attempt + 1}/${attempts})`);
  }
}

/**
 * Runs `fn` on a fresh store of `kind`: a scratch Postgres database (and
 * again on a new one when the server restarted meanwhile), or a SQLite
 * file in a temporary directory. Drops or removes it afterwards.
 */
export async function withStore<T>(
  kind: BackendKind,
  o: { databaseUrl: string; log: (line: string) => void },
  label: string,
  fn: (location: string, db: ScratchDatabase | null) => Promise<T>,
): Promise<T> {
  if (kind === "sqlite") {
    const dir = await tempDir();
    try {
      return await fn(`${dir.path}/${label}.db`, null);
    } finally {
      dir.remove();
    }
  }
  return await retryOnRestart(
    o.databaseUrl,
    `${label} on postgres`,
    async () => {
      const db = await createScratchDatabase(o.databaseUrl, label);
      try {
        return await fn(db.url, db);
      } finally {
        await db.drop();
      }
    },
    o.log,
  );
}

/** Calls and latencies of every backend method, per method name. */
export class CallStats {
  readonly calls: Map<string, number> = new Map();
  readonly durationsMs: Map<string, number[]> = new Map();

  /** Forgets everything recorded so far. */
  reset(): void {
    this.calls.clear();
    this.durationsMs.clear();
  }

  /** How often `method` was called. */
  count(method: string): number {
    return this.calls.get(method) ?? 0;
  }

  /** Every call of every method. */
  total(): number {
    let sum = 0;
    for (const n of this.calls.values()) sum += n;
    return sum;
  }

  /** The median latency of `method`, or `null` when it was not called. */
  p50(method: string): number | null {
    const samples = this.durationsMs.get(method);
    return samples === undefined ? null : percentile(samples, 50);
  }

  record(method: string, ms: number): void {
    this.calls.set(method, this.count(method) + 1);
    let samples = this.durationsMs.get(method);
    if (samples === undefined) this.durationsMs.set(method, samples = []);
    samples.push(ms);
  }
}

/**
 * Wraps `target` so that every method call is counted and timed in
 * `stats`, and its resolved value shown to `observe`. Methods run with the
 * real backend as `this` (its state is in private fields, which a Proxy
 * receiver cannot reach).
 */
export function instrument(
  target: Backend,
  stats: CallStats,
  observe?: (method: string, value: unknown) => void,
): Backend {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property, object);
      if (typeof value !== "function") return value;
      let fn = wrapped.get(property);
      if (fn === undefined) {
        const name = String(property);
        fn = (...args: unknown[]) => {
          const startedAt = performance.now();
          const result = value.apply(object, args);
          if (result instanceof Promise) {
            return result.then((value) => {
              stats.record(name, performance.now() - startedAt);
              observe?.(name, value);
              return value;
            }, (error) => {
              stats.record(name, performance.now() - startedAt);
              throw error;
            });
          }
          stats.record(name, performance.now() - startedAt);
          return result;
        };
        wrapped.set(property, fn);
      }
      return fn;
    },
  });
}

/** The `p`-th percentile of `samples` (nearest rank). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

/** The arithmetic mean of `samples`. */
export function mean(samples: readonly number[]): number {
  return samples.reduce((a, b) => a + b, 0) / samples.length;
}

/** `n` rounded to `digits` decimals (`null` stays `null`). */
export function round(n: number | null, digits = 2): number | null {
  return n === null || !Number.isFinite(n) ? null : Number(n.toFixed(digits));
}

/** `value / base`, rounded; `null` when either is missing. */
export function ratio(
  value: number | null,
  base: number | null,
): number | null {
  return value === null || base === null || base === 0
    ? null
    : round(value / base, 2);
}

/** Waits `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Prints an aligned table with a title. */
export function printTable(
  title: string,
  headers: readonly string[],
  rows: readonly (readonly unknown[])[],
): void {
  const cells = [headers, ...rows].map((row) =>
    row.map((cell) => cell === null || cell === undefined ? "-" : String(cell))
  );
  const widths = headers.map((_, i) =>
    Math.max(...cells.map((row) => (row[i] ?? "").length))
  );
  const line = (row: string[]) =>
    row.map((cell, i) =>
      i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])
    ).join("  ");
  console.log(`\n${title}`);
  console.log(line(cells[0]));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of cells.slice(1)) console.log(line(row));
}

/** Prints the one JSON summary line of a part. */
export function printSummary(part: string, summary: unknown): void {
  console.log(
    JSON.stringify({
      bench: "scaling",
      part,
      revision: revision(),
      ...Object(summary),
    }),
  );
}

/**
 * The commit measured, and whether the engine's files differed from it
 * (others may be editing the working tree meanwhile).
 */
function revision(): { commit: string; engineChanged: boolean } | null {
  const root = new URL("../../", import.meta.url).pathname;
  const git = (...args: string[]) => {
    const { success, stdout } = new Deno.Command("git", {
      args: ["-C", root, ...args],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    if (!success) throw new Error(`git ${args.join(" ")} failed`);
    return new TextDecoder().decode(stdout).trim();
  };
  try {
    return {
      commit: git("rev-parse", "--short", "HEAD"),
      engineChanged: git(
        "status",
        "--porcelain",
        "--",
        "src",
        "mod.ts",
        "backend_postgres.ts",
        "backend_sqlite.ts",
      ) !== "",
    };
  } catch {
    return null;
  }
}

/** Runs the collector, if the process was started with `--expose-gc`. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** The process's memory in MiB, after a collection when possible. */
export function memoryMiB(): { rssMiB: number; heapUsedMiB: number } {
  collectGarbage();
  const { rss, heapUsed } = Deno.memoryUsage();
  return {
    rssMiB: round(rss / 2 ** 20, 1)!,
    heapUsedMiB: round(heapUsed / 2 ** 20, 2)!,
  };
}

/**
 * The open file descriptors of this process, by kind (`socket`, `file`,
 * `pipe`, `other`), from `/proc/self/fd` (Linux). `Deno.resources()` no
 * longer exists in Deno 2.
 */
export function openDescriptors(): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    let target = "";
    try {
      target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
    } catch {
      continue; // closed while listing (the directory handle itself)
    }
    const kind = target.startsWith("socket:")
      ? "socket"
      : target.startsWith("pipe:")
      ? "pipe"
      : target.startsWith("/")
      ? "file"
      : "other";
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

/** CPU seconds (user + system) used so far by process `pid`, or 0 if gone. */
export function cpuSeconds(pid: number | "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat(5); fields[0] is field 3.
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ
  } catch {
    return 0;
  }
}

/**
 * The CPU seconds of the whole cluster so far: the postmaster's own, its
 * exited processes' (`cutime`, `cstime`) and its live processes'.
 */
export function clusterCpuSeconds(postmasterPid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${postmasterPid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // cutime and cstime are fields 16 and 17 of stat(5).
  let total = (Number(fields[13]) + Number(fields[14])) / 100 +
    cpuSeconds(postmasterPid);
  const children = Deno.readTextFileSync(
    `/proc/${postmasterPid}/task/${postmasterPid}/children`,
  ).trim().split(/\s+/).filter(Boolean).map(Number);
  for (const pid of children) total += cpuSeconds(pid);
  return total;
}

/** The postmaster's pid when it runs on this machine (else `null`). */
export async function postmasterPid(admin: Sql): Promise<number | null> {
  const [row] = await admin`SELECT pg_backend_pid() AS pid`;
  try {
    const stat = Deno.readTextFileSync(`/proc/${row.pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[1]); // the parent: field 4 of stat(5)
  } catch {
    return null;
  }
}

/** Committed plus rolled-back transactions of database `name` so far. */
export async function transactionCount(
  admin: Sql,
  name: string,
): Promise<number> {
  const [row] = await admin`
    SELECT (xact_commit + xact_rollback)::bigint AS n
    FROM pg_stat_database WHERE datname = ${name}`;
  return Number(row?.n ?? 0);
}

/**
 * Committed plus rolled-back transactions of database `name`, counted once
 * every connection to it is gone (up to 5 s): a server process reports its
 * transactions within 10 s of going idle, or when it exits.
 */
export async function transactionCountOnceGone(
  admin: Sql,
  name: string,
): Promise<number> {
  for (let i = 0; i < 100; i++) {
    if ((await backendPids(admin, name)).length === 0) break;
    await sleep(50);
  }
  return await transactionCount(admin, name);
}

/** The server processes connected to database `name`, by pid. */
export async function backendPids(admin: Sql, name: string): Promise<number[]> {
  const rows = await admin`
    SELECT pid FROM pg_stat_activity WHERE datname = ${name}`;
  return rows.map((row) => Number(row.pid));
}

/**
 * How long a server process may hold back its statistics: a process that
 * goes idle within a second of its last report reports again only after
 * 10 s (PostgreSQL 15's `PGSTAT_IDLE_INTERVAL`). Wait this long after a
 * burst of work before a quiet window is measured.
 */
export const STATS_SETTLE_MS = 11_000;

/**
 * Measures the transactions per second of database `name` over `ms`:
 * the `pg_stat_database` delta (statistics are flushed by each server
 * process about once a second, so the window should be several seconds).
 */
export async function transactionsPerSecond(
  admin: Sql,
  name: string,
  ms: number,
): Promise<{ transactions: number; perSecond: number }> {
  const before = await transactionCount(admin, name);
  const startedAt = performance.now();
  await sleep(ms);
  const after = await transactionCount(admin, name);
  const seconds = (performance.now() - startedAt) / 1000;
  return {
    transactions: after - before,
    perSecond: round((after - before) / seconds, 2)!,
  };
}

/** A temporary directory for SQLite files, removed by `remove()`. */
export async function tempDir(): Promise<{ path: string; remove(): void }> {
  const path = await Deno.makeTempDir({ prefix: "owbench_scale_" });
  return {
    path,
    remove: () => Deno.removeSync(path, { recursive: true }),
  };
}
