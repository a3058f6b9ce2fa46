/**
 * tools/vendor_postgres_driver.ts: src/postgres/driver/ is postgres.js from
 * npm plus tools/postgres_driver.patch, and `--check` tells when a file
 * drifts. Fetches the package with `npm pack` once (the steps share a
 * tarball cache).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SCRIPT = join(ROOT, "tools", "vendor_postgres_driver.ts");
const DRIVER = join(ROOT, "src", "postgres", "driver");

interface Result {
  code: number;
  output: string;
}

/** Runs the script with the permissions that its task grants. */
async function vendor(...args: string[]): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      SCRIPT,
      ...args,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    output: text.decode(out.stdout) + text.decode(out.stderr),
  };
}

/** Copies the driver folder's files (it has no subfolders) into `to`. */
async function copyDriver(to: string): Promise<void> {
  await Deno.mkdir(to);
  for await (const entry of Deno.readDir(DRIVER)) {
    assert.ok(entry.isFile, `${entry.name} is a file`);
    await Deno.copyFile(join(DRIVER, entry.name), join(to, entry.name));
  }
}

Deno.test("vendor_postgres_driver --check", async (t) => {
  const tmp = await Deno.makeTempDir({ prefix: "vendor_driver_test_" });
  const cache = join(tmp, "cache");
  try {
    await t.step("passes on src/postgres/driver/", async () => {
      const { code, output } = await vendor("--check", "--cache", cache);
      assert.equal(code, 0, output);
      assert.match(output, /^OK: .*postgres@\d+\.\d+\.\d+/m);
    });

    await t.step("names a file with one byte changed (exit 1)", async () => {
      const copy = join(tmp, "changed");
      await copyDriver(copy);
      const file = join(copy, "queue.js");
      const bytes = await Deno.readFile(file);
      bytes[10] ^= 1;
      await Deno.writeFile(file, bytes);

      const { code, output } = await vendor(
        "--check",
        "--dir",
        copy,
        "--cache",
        cache,
      );
      assert.equal(code, 1, output);
      assert.match(output, /^changed: queue\.js$/m);
      assert.doesNotMatch(output, /^changed: (?!queue\.js$)/m);
      assert.doesNotMatch(output, /^OK:/m);
    });

    await t.step("names missing and extra files (exit 1)", async () => {
      const copy = join(tmp, "files");
      await copyDriver(copy);
      await Deno.remove(join(copy, "UNLICENSE"));
      await Deno.writeTextFile(join(copy, "extra.js"), "export {}\n");

      const { code, output } = await vendor("--dir", copy, "--cache", cache);
      assert.equal(code, 1, output);
      assert.match(output, /^missing from the folder: UNLICENSE$/m);
      assert.match(output, /^only in the folder .*: extra\.js$/m);
    });

    await t.step("applies the patch with git apply too", async () => {
      const { code, output } = await vendor(
        "--check",
        "--applier",
        "git",
        "--cache",
        cache,
      );
      assert.equal(code, 0, output);
    });

    await t.step("rejects bad flags with exit 2", async () => {
      for (
        const args of [
          ["--check", "--diff"],
          ["--version", "latest"],
          ["--no-such-flag"],
        ]
      ) {
        const { code, output } = await vendor(...args);
        assert.equal(code, 2, `${args.join(" ")}: ${output}`);
      }
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
