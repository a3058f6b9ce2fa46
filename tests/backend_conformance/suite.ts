/**
 * The Backend conformance suite: every backend runs every case, each with a
 * fresh store and a random namespace.
 *
 * ```ts ignore
 * import { backendConformance } from "./backend_conformance/suite.ts";
 * backendConformance(myTarget);
 * ```
 */

import type { BackendTarget } from "../helpers.ts";
import { claimConformance } from "./claims.ts";
import { lifecycleConformance } from "./lifecycle.ts";
import { errorConformance } from "./errors.ts";
import { namespaceConformance } from "./namespaces.ts";
import { runConformance } from "./runs.ts";
import { stepConformance } from "./steps.ts";

/** Registers every conformance case for `target`. */
export function backendConformance(target: BackendTarget): void {
  runConformance(target);
  claimConformance(target);
  stepConformance(target);
  lifecycleConformance(target);
  namespaceConformance(target);
  errorConformance(target);
}
