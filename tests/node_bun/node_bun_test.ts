/**
 * The npm package on Node and Bun, and the runtime documentation's examples.
 *
 * `tests/node_bun/run.sh` packs the npm tarball, installs it into a scratch
 * project and runs the portable suite under Node 20, Node 22 and Bun, then
 * type-checks a TypeScript consumer with tsc. The first run on a machine
 * downloads Bun, Node 22 and TypeScript from npm into the system temp
 * directory; later runs reuse them.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import { DATABASE_URL, postgresTarget } from "../helpers.ts";

const HERE = new URL("./", import.meta.url);
const ROOT = new URL("../../", import.meta.url);

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

Deno.test({
  name:
    "the npm package passes the portable suite on Node 20, Node 22 and Bun, and type-checks with tsc",
  // It runs against Postgres: skipped (outside CI only) when that is down.
  ignore: postgresTarget.unavailable !== null,
}, async () => {
  const { code, stdout, stderr } = await new Deno.Command("bash", {
    args: [new URL("run.sh", HERE).pathname],
    env: { DENO: Deno.execPath(), DATABASE_URL },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = decode(stdout) + decode(stderr);
  const summary = output.slice(output.lastIndexOf("== summary"));
  assert.equal(
    code,
    0,
    `tests/node_bun/run.sh exited with ${code}:\n${output.slice(-20_000)}`,
  );
  console.log(summary.trimEnd());
  assert.match(summary, /^ok +Node v20\./m);
  assert.match(summary, /^ok +Bun /m);
  assert.match(summary, /^ok +tsc /m);
});

const EXAMPLES = ["example_deno.ts", "example_node.mjs", "example_bun.ts"];

Deno.test("the runtime documentation shows each runtime example verbatim", async () => {
  const documents = [await Deno.readTextFile(new URL("README.md", ROOT))];
  for (const example of EXAMPLES) {
    const code = await Deno.readTextFile(new URL(example, HERE));
    assert.ok(
      documents.some((text) => text.includes(code)),
      `README.md must show tests/node_bun/${example} verbatim in a code block`,
    );
  }
});

Deno.test({
  name: "the Deno example runs and prints the greeting",
  ignore: postgresTarget.unavailable !== null,
}, async () => {
  // A fresh database: the example uses the default namespace, which must
  // not see earlier runs.
  const name = `openworkflow_example_${
    crypto.randomUUID().replaceAll("-", "")
  }`;
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
    try {
      const url = new URL(DATABASE_URL);
      url.pathname = `/${name}`;
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-net",
          "--allow-env",
          new URL("example_deno.ts", HERE).pathname,
        ],
        env: { DATABASE_URL: url.href },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(code, 0, decode(stderr));
      assert.match(decode(stdout), /greeting: "Hello, Alice!"/);
    } finally {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
});
