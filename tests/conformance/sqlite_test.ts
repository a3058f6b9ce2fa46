/**
 * The Backend conformance suite against `BackendSqlite`, called as a
 * third-party backend would call it: through the published entry points.
 * On a database file, on a shared in-memory database, and through the
 * literal `":memory:"` users pass, where each connection is a database of
 * its own (the cases that need a second backend on the same data are
 * skipped there by capability, and reported as ignored).
 */

import { BackendSqlite } from "@openworkflow/core/sqlite";
import { runBackendConformance } from "@openworkflow/core/testing";

const dir = Deno.makeTempDirSync({ prefix: "openworkflow-conformance-" });
globalThis.addEventListener("unload", () => {
  Deno.removeSync(dir, { recursive: true });
});

const onSkip = (name: string, reason: string) =>
  Deno.test({ name: `${name} (skipped: ${reason})`, ignore: true, fn() {} });

runBackendConformance({
  name: "sqlite file",
  connect: ({ namespaceId }) =>
    BackendSqlite.connect(`${dir}/conformance.db`, { namespaceId }),
  test: Deno.test,
});

const shared =
  `file:conformance-${crypto.randomUUID()}?mode=memory&cache=shared`;
runBackendConformance({
  name: "sqlite memory (shared cache)",
  connect: ({ namespaceId }) => BackendSqlite.connect(shared, { namespaceId }),
  test: Deno.test,
});

runBackendConformance({
  name: 'sqlite ":memory:"',
  connect: ({ namespaceId }) =>
    BackendSqlite.connect(":memory:", { namespaceId }),
  test: Deno.test,
  capabilities: { sharedStore: false },
  onSkip,
});
