/** What a chaos run reports, and its text form. */

import type { StoreKind } from "./store.ts";
import type { DurationStats } from "./util.ts";
import type { Verification } from "./verify.ts";

/** The faults whose recovery the harness measures. */
export type FaultKind = "kill" | "drop" | "restart";

/** What a chaos run found. */
export interface ChaosReport {
  backend: StoreKind;
  runs: number;
  succeeded: number;
  failed: number;
  durationMs: number;
  kills: number;
  /** Workers frozen (SIGSTOP) past their lease, then continued. */
  freezes?: number;
  gracefulStops: number;
  connectionDrops: number;
  connectionsTerminated: number;
  serverRestarts: number;
  /** Worker processes that exited before ready (e.g. the server was down). */
  workerStartFailures: number;
  /** `result()` rejections on transient errors, by error name. */
  resultErrors: Record<string, number>;
  /** Recovery times; see harness.ts for the definition. */
  recovery: Record<FaultKind, DurationStats>;
  verification: Verification;
  /** Every broken guarantee; empty when the run passed. */
  violations: string[];
  /**
   * Broken guarantees explained by a known engine bug that has a repro
   * test of its own (named in each line).
   */
  knownIssues: string[];
}

/** Side effects committed after their step was recorded as succeeded. */
export function duplicateEffects(report: ChaosReport): number {
  return report.violations.filter((v) =>
    /side effect .* (committed|inserted) .*after/.test(v)
  ).length;
}

/** One line per figure, for logs and the bench output. */
export function formatReport(report: ChaosReport): string {
  const r = report.recovery;
  const recovery = (name: string, s: DurationStats) =>
    `recovery after ${name}: ${s.count} measured, max ${s.maxMs} ms, mean ${s.meanMs} ms`;
  return [
    `backend: ${report.backend}`,
    `runs: ${report.runs} (${report.succeeded} succeeded, ${report.failed} failed)`,
    `duration: ${report.durationMs} ms`,
    `kills (SIGKILL): ${report.kills}`,
    `freezes (SIGSTOP past the lease): ${report.freezes ?? 0}`,
    `graceful stops (SIGTERM) under load: ${report.gracefulStops}`,
    `connection drops: ${report.connectionDrops} (${report.connectionsTerminated} connections terminated)`,
    `server restarts: ${report.serverRestarts}`,
    `worker start failures (server down): ${report.workerStartFailures}`,
    `result() transient rejections: ${JSON.stringify(report.resultErrors)}`,
    `step attempts: ${report.verification.stepAttempts}`,
    `side effects: ${report.verification.sideEffects}`,
    `steps re-executed before their success was recorded: ${report.verification.reexecutedSteps}`,
    `side effects after success (duplicates): ${duplicateEffects(report)}`,
    recovery("a kill", r.kill),
    recovery("a connection drop", r.drop),
    recovery("a server restart", r.restart),
    `violations: ${report.violations.length}`,
    ...report.violations.slice(0, 20).map((v) => `  - ${v}`),
    `known issues (bugs with repro tests): ${report.knownIssues.length}`,
    ...report.knownIssues.slice(0, 20).map((v) => `  - ${v}`),
  ].join("\n");
}
