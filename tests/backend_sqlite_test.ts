/**
 * The Backend conformance suite, run against `BackendSqlite` in memory
 * (through the literal `":memory:"` users pass, and through a shared
 * in-memory database) and on a database file.
 */

import { backendConformance } from "./backend_conformance/suite.ts";
import {
  sqliteFileTarget,
  sqliteLiteralMemoryTarget,
  sqliteMemoryTarget,
} from "./helpers.ts";

/**
 * Each `":memory:"` connection is a database of its own: the cases that
 * connect a second backend to the same store cannot run on it. They run on
 * the shared in-memory target and on the file target.
 */
const ONE_CONNECTION =
  'needs a second backend on the same database, and each ":memory:" connection is a database of its own; the shared in-memory and file targets run it';

backendConformance({
  ...sqliteLiteralMemoryTarget,
  skipped: new Map([
    ["concurrent claimers never receive the same run", ONE_CONNECTION],
    ["namespaces isolate completely", ONE_CONNECTION],
    [
      "one idempotency key gives one run across backends connected separately",
      ONE_CONNECTION,
    ],
    [
      "getWorkflowRunStatuses(), when implemented, reads the statuses of many runs",
      ONE_CONNECTION,
    ],
    [
      "heartbeatWorkflowRun() cannot renew a lease of another namespace",
      ONE_CONNECTION,
    ],
    [
      "failExpiredWorkflowRuns() fails only runs of its namespace",
      ONE_CONNECTION,
    ],
    [
      "stop() may be called twice; calls after it reject with BackendError",
      ONE_CONNECTION,
    ],
  ]),
});
backendConformance(sqliteMemoryTarget);
backendConformance(sqliteFileTarget);
