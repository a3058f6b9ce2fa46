/**
 * `testEachBackend()` of tests/helpers.ts, with two more knobs the fault
 * tests need: the targets to run on, and `ignore` (for the repros of known
 * bugs, which must not fail CI until fixed).
 */

import {
  type BackendTarget,
  postgresTarget,
  randomNamespace,
  targets,
  type TestContext,
} from "../helpers.ts";

/** Options of {@linkcode testEach}. */
export interface TestEachOptions {
  /** The targets to run on. Default: every target of tests/helpers.ts. */
  targets?: readonly BackendTarget[];
  /** Registers the test as ignored (a repro of a known bug). */
  ignore?: boolean;
}

/** Only the Postgres target. */
export const POSTGRES_ONLY: readonly BackendTarget[] = [postgresTarget];

/**
 * Registers a test once per target, with a fresh store and a backend in a
 * fresh namespace.
 */
export function testEach(
  name: string,
  fn: (context: TestContext) => Promise<void>,
  options: TestEachOptions = {},
): void {
  for (const target of options.targets ?? targets) {
    Deno.test({
      name: `[${target.name}] ${name}`,
      ignore: options.ignore === true || target.unavailable !== null,
      async fn() {
        const store = await target.open();
        try {
          const namespaceId = randomNamespace();
          const backend = await store.connect(namespaceId);
          await fn({ backend, store, namespaceId });
        } finally {
          await store.close();
        }
      },
    });
  }
}
