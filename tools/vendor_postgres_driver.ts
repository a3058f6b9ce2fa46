/**
 * Keeps `src/postgres/driver/` reproducible: the folder is the npm package
 * `postgres` (postgres.js) laid out flat, its `src/*.js` and
 * `types/index.d.ts`, with `tools/postgres_driver.patch` applied (the
 * vendoring changes, the bug fixes, and `UNLICENSE`, which the npm tarball
 * does not ship). The folder's own `README.md` is not compared.
 *
 * The script fetches `postgres@<version>` with `npm pack` into a temporary
 * folder (removed at the end), extracts it with `tar`, lays the upstream
 * files out as the folder has them and applies the patch with `patch`, or
 * `git apply` where `patch` is not installed. Then, by mode:
 *
 * - `--check` (the default): compares the result byte for byte with the
 *   folder, prints what differs and exits 1 on any difference, 0 when they
 *   are identical.
 * - `--write`: replaces the folder's files (all but `README.md`) with the
 *   result. With `--version`, this moves the folder to another upstream
 *   release; hunks that do not apply are left next to their file as
 *   `<file>.rej` (exit 4). Fix the files, delete the `.rej` files, then run
 *   `--diff --version <new version>`.
 * - `--diff`: writes the patch anew, from pristine upstream to the folder
 *   as it is now, and checks that it reproduces the folder.
 *
 * The patch's header records the upstream version and the tarball's
 * integrity (`upstream: postgres@3.4.9`, `integrity: sha512-...`); they
 * are the default `--version`, and a tarball of that version must match the
 * integrity. Exit codes: 0 identical or done, 1 the folder differs, 2 usage,
 * 3 fetching or extracting the package failed (or its integrity does not
 * match), 4 the patch does not apply, 5 any other error.
 *
 * Usage: `deno run --allow-read --allow-write --allow-run --allow-env
 * tools/vendor_postgres_driver.ts [--check | --write | --diff] [options]`;
 * `--help` lists the options.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Used when neither `--version` nor the patch's header names a version. */
const DEFAULT_VERSION = "3.4.9";
const PACKAGE = "postgres";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DEFAULT_DIR = join(REPO_ROOT, "src", "postgres", "driver");
const DEFAULT_PATCH = join(REPO_ROOT, "tools", "postgres_driver.patch");
/** The folder's own file, not part of the comparison. */
const OWN_README = "README.md";
/** What `--write` leaves behind for hunks that did not apply. */
const LEFTOVER = /\.(rej|orig)$/;

const EXIT = {
  ok: 0,
  mismatch: 1,
  usage: 2,
  fetch: 3,
  apply: 4,
  error: 5,
} as const;

const HELP =
  `Usage: deno run --allow-read --allow-write --allow-run --allow-env \\
  tools/vendor_postgres_driver.ts [--check | --write | --diff] [options]

Rebuilds src/postgres/driver/ from the npm package ${PACKAGE} and
tools/postgres_driver.patch.

Modes (one at most):
  --check            compare the result with the folder (default); exit 1
                     and print the differences if any
  --write            replace the folder's files (all but README.md) with the
                     result; rejected hunks are left as <file>.rej (exit 4)
  --diff             write the patch anew from upstream to the folder

Options:
  --version X.Y.Z    upstream version (default: the patch header's, else
                     ${DEFAULT_VERSION})
  --dir PATH         the vendored folder (default: src/postgres/driver)
  --patch PATH       the patch file (default: tools/postgres_driver.patch)
  --cache DIR        keep the npm tarball in DIR and reuse it from there
  --applier NAME     auto (default: patch if installed, else git), patch, git
  -h, --help         show this help

Exit codes: 0 identical or done, 1 the folder differs, 2 usage,
3 fetching the package failed, 4 the patch does not apply, 5 other errors.
`;

/** An error that ends the script with a given exit code. */
class ToolError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

type Files = Map<string, Uint8Array>;

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

interface Options {
  mode: "check" | "write" | "diff";
  version: string | undefined;
  dir: string;
  patch: string;
  cache: string | undefined;
  applier: "auto" | "patch" | "git";
}

function parseOptions(args: string[]): Options | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        check: { type: "boolean" },
        write: { type: "boolean" },
        diff: { type: "boolean" },
        version: { type: "string" },
        dir: { type: "string" },
        patch: { type: "string" },
        cache: { type: "string" },
        applier: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new ToolError((e as Error).message, EXIT.usage);
  }
  const v = parsed.values;
  if (v.help) return "help";
  const modes = (["check", "write", "diff"] as const).filter((m) => v[m]);
  if (modes.length > 1) {
    throw new ToolError(
      `choose one mode, not ${modes.map((m) => `--${m}`).join(" and ")}`,
      EXIT.usage,
    );
  }
  if (
    v.version !== undefined &&
    !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(v.version)
  ) {
    throw new ToolError(
      `--version wants an exact version such as 3.4.9, not "${v.version}"`,
      EXIT.usage,
    );
  }
  const applier = v.applier ?? "auto";
  if (applier !== "auto" && applier !== "patch" && applier !== "git") {
    throw new ToolError(
      `--applier is auto, patch or git, not "${applier}"`,
      EXIT.usage,
    );
  }
  for (const name of ["dir", "patch", "cache"] as const) {
    if (v[name] === "") {
      throw new ToolError(`--${name} wants a path`, EXIT.usage);
    }
  }
  return {
    mode: modes[0] ?? "check",
    version: v.version,
    dir: resolve(v.dir ?? DEFAULT_DIR),
    patch: resolve(v.patch ?? DEFAULT_PATCH),
    cache: v.cache === undefined ? undefined : resolve(v.cache),
    applier,
  };
}

/** A path to show: relative to the working directory when inside it. */
function shown(path: string): string {
  const rel = relative(Deno.cwd(), path);
  return rel === "" ? "." : rel.startsWith("..") ? path : rel;
}

/**
 * Runs a command to completion. Returns `null` when it is not installed.
 */
async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; clearEnv?: boolean } =
    {},
): Promise<Output | null> {
  let out;
  try {
    out = await new Deno.Command(cmd, {
      args,
      ...options,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/** The last lines of a command's output, for an error message. */
function tail(out: Output, lines = 15): string {
  const all = `${out.stdout}\n${out.stderr}`.trim().split("\n");
  return all.slice(-lines).map((l) => `  ${l}`).join("\n");
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function sha512Integrity(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(
    await crypto.subtle.digest("SHA-512", bytes as Uint8Array<ArrayBuffer>),
  );
  return `sha512-${btoa(String.fromCharCode(...hash))}`;
}

/** What the patch's header records; empty when there is no patch yet. */
interface PatchHeader {
  version?: string;
  integrity?: string;
}

function readHeader(patch: string): PatchHeader {
  const header: PatchHeader = {};
  for (const line of patch.split("\n")) {
    if (line.startsWith("--- ")) break;
    const upstream = line.match(/^upstream: (\S+)@(\S+)$/);
    if (upstream && upstream[1] === PACKAGE) header.version = upstream[2];
    const integrity = line.match(/^integrity: (\S+)$/);
    if (integrity) header.integrity = integrity[1];
  }
  return header;
}

/**
 * Fetches `postgres@<version>` with `npm pack` (from `cache` when it holds
 * the tarball) and returns the tarball's path.
 */
async function fetchTarball(
  version: string,
  tmp: string,
  cache: string | undefined,
): Promise<string> {
  const name = `${PACKAGE}-${version}.tgz`;
  if (cache !== undefined && await exists(join(cache, name))) {
    return join(cache, name);
  }
  const dest = cache ?? tmp;
  await Deno.mkdir(dest, { recursive: true });
  const spec = `${PACKAGE}@${version}`;
  const out = await run(
    "npm",
    [
      "pack",
      spec,
      "--json",
      "--ignore-scripts",
      "--pack-destination",
      dest,
    ],
    { cwd: tmp, env: { npm_config_update_notifier: "false" } },
  );
  if (out === null) {
    throw new ToolError("npm is not installed (not on PATH)", EXIT.fetch);
  }
  if (out.code !== 0) {
    throw new ToolError(
      `npm pack ${spec} failed (exit ${out.code}):\n` +
        tail({ ...out, stdout: "" }),
      EXIT.fetch,
    );
  }
  let file = name;
  try {
    const [info] = JSON.parse(out.stdout) as { filename?: string }[];
    if (info?.filename) file = info.filename;
  } catch {
    // Older npm versions print the file name alone.
  }
  const path = join(dest, file);
  if (!await exists(path)) {
    throw new ToolError(
      `npm pack ${spec} made no ${shown(path)}:\n${tail(out)}`,
      EXIT.fetch,
    );
  }
  return path;
}

async function extract(tarball: string, into: string): Promise<string> {
  await Deno.mkdir(into, { recursive: true });
  const out = await run("tar", ["-xzf", tarball, "-C", into]);
  if (out === null) {
    throw new ToolError("tar is not installed (not on PATH)", EXIT.fetch);
  }
  if (out.code !== 0) {
    throw new ToolError(
      `tar could not extract ${shown(tarball)}:\n${tail(out)}`,
      EXIT.fetch,
    );
  }
  const root = join(into, "package");
  if (!await exists(join(root, "package.json"))) {
    throw new ToolError(
      `${shown(tarball)} holds no package/package.json`,
      EXIT.fetch,
    );
  }
  return root;
}

/** Every file under `dir`, by path relative to it (with `/`), sorted. */
async function readTree(dir: string, skip?: (rel: string) => boolean) {
  const files: Files = new Map();
  async function walk(sub: string) {
    const entries = [];
    for await (const entry of Deno.readDir(join(dir, sub))) entries.push(entry);
    for (const entry of entries) {
      const rel = sub === "" ? entry.name : `${sub}/${entry.name}`;
      if (skip?.(rel)) continue;
      if (entry.isDirectory) await walk(rel);
      else files.set(rel, await Deno.readFile(join(dir, rel)));
    }
  }
  await walk("");
  return new Map([...files].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
}

async function writeTree(dir: string, files: Files): Promise<void> {
  for (const [rel, bytes] of files) {
    await Deno.mkdir(dirname(join(dir, rel)), { recursive: true });
    await Deno.writeFile(join(dir, rel), bytes);
  }
}

/**
 * The upstream files as the vendored folder has them: the package's
 * `src/` (its ES module sources) and `types/index.d.ts`, side by side.
 */
async function upstreamFiles(pkg: string): Promise<Files> {
  const files = await readTree(join(pkg, "src"));
  if (files.size === 0) {
    throw new ToolError("the package has no src/ files", EXIT.fetch);
  }
  if (files.has("index.d.ts")) {
    throw new ToolError("the package's src/ has an index.d.ts", EXIT.fetch);
  }
  try {
    files.set("index.d.ts", await Deno.readFile(join(pkg, "types/index.d.ts")));
  } catch {
    throw new ToolError("the package has no types/index.d.ts", EXIT.fetch);
  }
  return files;
}

/** A folder's files, all but its README.md and `--write` leftovers. */
function folderFiles(dir: string): Promise<Files> {
  return readTree(dir, (rel) => rel === OWN_README || LEFTOVER.test(rel));
}

/** Leftovers of `--write` (`.rej`, `.orig`) in the folder. */
async function leftovers(dir: string): Promise<string[]> {
  const all = await readTree(dir);
  return [...all.keys()].filter((rel) => LEFTOVER.test(rel));
}

/** Environment for `git apply`, without what points git at a repository. */
function gitEnv(ceiling: string): Record<string, string> {
  const env = Deno.env.toObject();
  for (const key of Object.keys(env)) {
    if (key.startsWith("GIT_")) delete env[key];
  }
  env.GIT_CEILING_DIRECTORIES = ceiling;
  return env;
}

interface Applied {
  /** Every hunk applied. */
  clean: boolean;
  applier: string;
  output: string;
}

/**
 * Applies the patch to `dir` (a folder outside any git repository).
 * `strict` allows no fuzz and applies nothing when a hunk fails (git) or
 * reports failure (patch); otherwise failed hunks are left in `.rej` files.
 */
async function applyPatch(
  dir: string,
  patch: string,
  applier: Options["applier"],
  strict: boolean,
): Promise<Applied> {
  if (applier !== "git") {
    const args = [
      "--force", // never ask, never take a hunk for a reversed one
      "--strip=1",
      "--no-backup-if-mismatch",
      `--directory=${dir}`,
      `--input=${patch}`,
    ];
    if (strict) args.push("--fuzz=0");
    const out = await run("patch", args);
    if (out !== null) {
      return {
        clean: out.code === 0,
        applier: "patch",
        output: tail(out, 40),
      };
    }
    if (applier === "patch") {
      throw new ToolError("patch is not installed (not on PATH)", EXIT.apply);
    }
  }
  const args = ["apply", "-p1", "--whitespace=nowarn"];
  if (!strict) args.push("--reject");
  const out = await run("git", [...args, patch], {
    cwd: dir,
    env: gitEnv(dirname(dir)),
    clearEnv: true,
  });
  if (out === null) {
    throw new ToolError(
      "neither patch nor git is installed (on PATH)",
      EXIT.apply,
    );
  }
  return { clean: out.code === 0, applier: "git apply", output: tail(out, 40) };
}

/**
 * A unified diff of one file with GNU diff, labelled `a/<rel>` and
 * `b/<rel>`, or `/dev/null` for a side that lacks the file. Empty when the
 * two are the same.
 */
async function diffFile(
  rel: string,
  before: string | null,
  after: string | null,
  labels: [string, string] = [`a/${rel}`, `b/${rel}`],
): Promise<string> {
  const out = await run("diff", [
    "--unified",
    "--text",
    `--label=${before === null ? "/dev/null" : labels[0]}`,
    `--label=${after === null ? "/dev/null" : labels[1]}`,
    before ?? "/dev/null",
    after ?? "/dev/null",
  ]);
  if (out === null) {
    throw new ToolError("diff is not installed (not on PATH)", EXIT.error);
  }
  if (out.code > 1) {
    throw new ToolError(`diff failed on ${rel}:\n${tail(out)}`, EXIT.error);
  }
  return out.stdout;
}

/** The patch from the files under `beforeDir` to those under `afterDir`. */
async function makePatch(
  beforeDir: string,
  before: Files,
  afterDir: string,
  after: Files,
  header: string,
): Promise<string> {
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  let body = "";
  for (const rel of paths) {
    body += await diffFile(
      rel,
      before.has(rel) ? join(beforeDir, rel) : null,
      after.has(rel) ? join(afterDir, rel) : null,
    );
  }
  return header + body;
}

function patchHeader(version: string, integrity: string): string {
  return `Turns the npm package ${PACKAGE}@${version} into src/postgres/driver/
(all its files but README.md, which is not upstream's). Upstream is laid out
flat: the package's src/*.js and types/index.d.ts side by side. The patch
makes the vendoring changes and the bug fixes that the folder's README.md
describes, and adds UNLICENSE, which the npm tarball does not ship.

Do not edit by hand: change the folder, then write this file anew with
  deno run -A tools/vendor_postgres_driver.ts --diff
and check the folder against it with --check (the default).

upstream: ${PACKAGE}@${version}
integrity: ${integrity}

`;
}

interface Comparison {
  changed: string[];
  /** In the result of upstream + patch, not in the folder. */
  missing: string[];
  /** In the folder, not in the result. */
  extra: string[];
}

function compare(expected: Files, actual: Files): Comparison {
  const result: Comparison = { changed: [], missing: [], extra: [] };
  for (const [rel, bytes] of expected) {
    const other = actual.get(rel);
    if (other === undefined) result.missing.push(rel);
    else if (!sameBytes(bytes, other)) result.changed.push(rel);
  }
  for (const rel of actual.keys()) {
    if (!expected.has(rel)) result.extra.push(rel);
  }
  return result;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isSame(c: Comparison): boolean {
  return c.changed.length + c.missing.length + c.extra.length === 0;
}

/** Prints the differences, with a diff of each changed file. */
async function report(
  c: Comparison,
  resultDir: string,
  folder: string,
): Promise<void> {
  const maxLines = 80;
  for (const rel of c.changed) {
    console.log(`changed: ${rel}`);
    const diff = (await diffFile(
      rel,
      join(resultDir, rel),
      join(folder, rel),
      [`upstream+patch/${rel}`, `folder/${rel}`],
    )).trimEnd().split("\n");
    const cut = diff.length > maxLines;
    console.log(diff.slice(0, maxLines).join("\n"));
    if (cut) console.log(`... (${diff.length - maxLines} more lines)`);
  }
  for (const rel of c.missing) {
    console.log(`missing from the folder: ${rel}`);
  }
  for (const rel of c.extra) {
    console.log(`only in the folder (neither upstream nor patched): ${rel}`);
  }
}

async function main(args: string[]): Promise<number> {
  const options = parseOptions(args);
  if (options === "help") {
    console.log(HELP);
    return EXIT.ok;
  }
  const { mode, dir, patch, cache, applier } = options;

  let patchText = "";
  try {
    patchText = await Deno.readTextFile(patch);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound) || mode !== "diff") {
      throw new ToolError(
        `cannot read the patch ${shown(patch)}: ${(e as Error).message}`,
        EXIT.usage,
      );
    }
  }
  const header = readHeader(patchText);
  const version = options.version ?? header.version ?? DEFAULT_VERSION;
  if (mode !== "write" && !await exists(dir)) {
    throw new ToolError(`no folder ${shown(dir)}`, EXIT.usage);
  }
  if (mode === "diff") {
    const left = await leftovers(dir);
    if (left.length > 0) {
      throw new ToolError(
        `${shown(dir)} still has ${left.join(", ")}: resolve the rejected ` +
          "hunks in their files and delete these first",
        EXIT.apply,
      );
    }
  }

  const tmp = await Deno.makeTempDir({ prefix: "vendor_postgres_driver_" });
  const cleanup = () => {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } catch {
      // Already gone.
    }
  };
  const onSignal = () => {
    cleanup();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const tarball = await fetchTarball(version, tmp, cache);
    const integrity = await sha512Integrity(await Deno.readFile(tarball));
    if (
      header.version === version && header.integrity !== undefined &&
      header.integrity !== integrity
    ) {
      throw new ToolError(
        `${PACKAGE}@${version}'s tarball (${shown(tarball)}) is ` +
          `${integrity}, not the ${header.integrity} that ${shown(patch)} ` +
          "was made from",
        EXIT.fetch,
      );
    }
    if (header.version !== undefined && header.version !== version) {
      console.error(
        `note: ${shown(patch)} was made against ${PACKAGE}@` +
          `${header.version}; applying it to ${PACKAGE}@${version}`,
      );
    }
    const pristine = await upstreamFiles(
      await extract(tarball, join(tmp, "extract")),
    );
    const upstreamDir = join(tmp, "upstream");
    await writeTree(upstreamDir, pristine);

    if (mode === "diff") {
      const current = await folderFiles(dir);
      const text = await makePatch(
        upstreamDir,
        pristine,
        dir,
        current,
        patchHeader(version, integrity),
      );
      // The new patch must reproduce the folder.
      const patchedDir = join(tmp, "patched");
      await writeTree(patchedDir, pristine);
      const newPatch = join(tmp, "new.patch");
      await Deno.writeTextFile(newPatch, text);
      const applied = await applyPatchIfAny(patchedDir, newPatch, text, {
        applier,
        strict: true,
      });
      const c = compare(await folderFiles(patchedDir), current);
      if (!applied.clean || !isSame(c)) {
        throw new ToolError(
          `the new patch does not reproduce ${shown(dir)} ` +
            `(${applied.applier}):\n${applied.output}`,
          EXIT.error,
        );
      }
      const changed = patchText !== text;
      if (changed) await Deno.writeTextFile(patch, text);
      const files = (text.match(/^\+\+\+ /gm) ?? []).length;
      console.log(
        `${changed ? "wrote" : "unchanged:"} ${shown(patch)} ` +
          `(${PACKAGE}@${version} to ${shown(dir)}, ` +
          `${count(files, "file")} patched)`,
      );
      return EXIT.ok;
    }

    const resultDir = join(tmp, "patched");
    await writeTree(resultDir, pristine);
    const applied = await applyPatchIfAny(resultDir, patch, patchText, {
      applier,
      strict: mode === "check",
    });

    if (mode === "check") {
      if (!applied.clean) {
        throw new ToolError(
          `${shown(patch)} does not apply cleanly to ${PACKAGE}@${version} ` +
            `(${applied.applier}):\n${applied.output}`,
          EXIT.apply,
        );
      }
      const expected = await folderFiles(resultDir);
      const c = compare(expected, await folderFiles(dir));
      const left = await leftovers(dir);
      if (isSame(c) && left.length === 0) {
        console.log(
          `OK: ${shown(dir)} is ${PACKAGE}@${version} + ${shown(patch)} ` +
            `(${count(expected.size, "file")} identical)`,
        );
        return EXIT.ok;
      }
      console.log(
        `${shown(dir)} differs from ${PACKAGE}@${version} + ${shown(patch)}:`,
      );
      await report(c, resultDir, dir);
      for (const rel of left) console.log(`leftover of --write: ${rel}`);
      console.log(
        "To keep the folder's changes, write the patch anew with --diff; " +
          "to restore the folder, use --write.",
      );
      return EXIT.mismatch;
    }

    // --write: the result, with the .rej files of hunks that failed.
    const result = await readTree(resultDir, (rel) => rel.endsWith(".orig"));
    await Deno.mkdir(dir, { recursive: true });
    const before = await readTree(dir, (rel) => rel === OWN_README);
    const removed = [...before.keys()].filter((rel) => !result.has(rel));
    for (const rel of removed) await Deno.remove(join(dir, rel));
    const written = [...result].filter(([rel, bytes]) => {
      const old = before.get(rel);
      return old === undefined || !sameBytes(old, bytes);
    });
    await writeTree(dir, new Map(written));
    const rejects = [...result.keys()].filter((rel) => rel.endsWith(".rej"));
    console.log(
      `wrote ${shown(dir)} from ${PACKAGE}@${version} + ${shown(patch)}: ` +
        `${count(written.length, "file")} written, ${removed.length} ` +
        `removed, ${result.size - written.length} unchanged`,
    );
    if (!applied.clean) {
      console.log(
        `\nthe patch did not apply cleanly (${applied.applier}):\n` +
          `${applied.output}\n\n` +
          (rejects.length > 0
            ? `rejected hunks: ${rejects.join(", ")} in ${shown(dir)}. `
            : "") +
          "Fix the files by hand, delete the .rej files, then run " +
          `--diff --version ${version}.`,
      );
      return EXIT.apply;
    }
    return EXIT.ok;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    cleanup();
  }
}

/** Applies the patch unless it has no file in it (upstream unchanged). */
function applyPatchIfAny(
  dir: string,
  patch: string,
  text: string,
  { applier, strict }: { applier: Options["applier"]; strict: boolean },
): Promise<Applied> {
  if (!/^--- /m.test(text)) {
    return Promise.resolve({ clean: true, applier: "none", output: "" });
  }
  return applyPatch(dir, patch, applier, strict);
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    if (e instanceof ToolError) {
      console.error(`vendor_postgres_driver: ${e.message}`);
      if (e.code === EXIT.usage) console.error("(--help shows the usage)");
      code = e.code;
    } else {
      console.error("vendor_postgres_driver: unexpected error:", e);
      code = EXIT.error;
    }
  }
  Deno.exit(code);
}
