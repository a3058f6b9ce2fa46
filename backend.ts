/**
 * For people who write backends: the `Backend` interface the engine stores
 * runs through, the records and parameters of its methods, and the errors a
 * backend reports with. The interface's documentation states the contract
 * (namespaces, ids, one clock, atomic claims, fencing, JSON, errors,
 * notifications); `runBackendConformance()` from
 * `@openworkflow/core/testing` checks it.
 *
 * `@openworkflow/core` exports the same types, so code written against
 * them there keeps working.
 *
 * @example
 * ```ts
 * import type { Backend, WorkflowRun } from "@openworkflow/core/backend";
 *
 * function describe(run: WorkflowRun): string {
 *   return `${run.workflowName} ${run.id}: ${run.status}`;
 * }
 * async function oldest(backend: Backend): Promise<string[]> {
 *   const page = await backend.listWorkflowRuns({ limit: 10 });
 *   return page.runs.map(describe);
 * }
 * ```
 *
 * @module
 */

export type * from "./src/core/backend.ts";
export { TERMINAL_STATUSES } from "./src/core/backend.ts";
export {
  type JsonPrimitive,
  jsonText,
  type JsonValue,
  type SerializedError,
} from "./src/core/json.ts";
export { DEFAULT_NAMESPACE_ID } from "./src/core/defaults.ts";
export {
  BackendError,
  type BackendErrorOptions,
  type BackendProblem,
  LeaseLostError,
  OpenWorkflowError,
  type OpenWorkflowErrorOptions,
  SchemaVersionError,
} from "./src/core/errors.ts";
