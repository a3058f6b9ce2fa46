/**
 * The Backend conformance suite against `BackendPostgres`, called as a
 * third-party backend would call it: through the published entry points.
 */

import { BackendPostgres } from "@openworkflow/core/postgres";
import { runBackendConformance } from "@openworkflow/core/testing";
import {
  DATABASE_URL,
  postgresPgbouncerTarget,
  postgresTarget,
} from "../helpers.ts";
import { pgbouncerUrl } from "../pgbouncer.ts";

for (const listen of [true, false]) {
  runBackendConformance({
    name: listen ? "postgres" : "postgres listen: false",
    connect: ({ namespaceId }) =>
      BackendPostgres.connect(DATABASE_URL, {
        namespaceId,
        maxConnections: 4,
        listen,
      }),
    test: (name, fn) =>
      Deno.test({ name, ignore: postgresTarget.unavailable !== null, fn }),
  });
}

// Through PgBouncer in transaction pooling mode, notifications over a
// direct connection.
runBackendConformance({
  name: "postgres via pgbouncer",
  connect: async ({ namespaceId }) =>
    BackendPostgres.connect(await pgbouncerUrl(), {
      namespaceId,
      maxConnections: 4,
      listenUrl: DATABASE_URL,
    }),
  test: (name, fn) =>
    Deno.test({
      name,
      ignore: postgresPgbouncerTarget.unavailable !== null,
      fn,
    }),
});
