/**
 * Testing tools: the Backend conformance suite, with which any `Backend`
 * (ours, or a third party's) proves that it keeps the contract the engine
 * relies on, under any test runner on Deno, Node or Bun.
 *
 * @example
 * ```ts ignore
 * import { runBackendConformance } from "@openworkflow/core/testing";
 * import { BackendPostgres } from "@openworkflow/core/postgres";
 *
 * runBackendConformance({
 *   name: "postgres",
 *   connect: ({ namespaceId }) =>
 *     BackendPostgres.connect(Deno.env.get("DATABASE_URL")!, { namespaceId }),
 *   test: Deno.test,
 * });
 * ```
 *
 * @module
 */

export {
  type BackendCapabilities,
  type BackendConformanceOptions,
  runBackendConformance,
} from "./src/testing/conformance/suite.ts";
export {
  createTestEnvironment,
  TestEnvironment,
  type TestEnvironmentOptions,
} from "./src/testing/environment.ts";
