/**
 * The Backend conformance suite, run against `BackendSqlite` in memory and
 * on a database file.
 */

import { backendConformance } from "./backend_conformance/suite.ts";
import { sqliteFileTarget, sqliteMemoryTarget } from "./helpers.ts";

backendConformance(sqliteMemoryTarget);
backendConformance(sqliteFileTarget);
