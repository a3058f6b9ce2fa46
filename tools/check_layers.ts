/**
 * Checks the library's module graph, and fails on:
 *
 * 1. any import cycle among the library's modules;
 * 2. any import that points up a layer (see {@linkcode ALLOWED_IMPORTS});
 * 3. any way for `mod.ts` to reach a database driver, even transitively
 *    (see {@linkcode DRIVER_FREE}).
 *
 * The library's modules are every `.ts` file under `src/` (except the vendored
 * driver in `src/postgres/driver/`) and the top-level entry files named in
 * {@linkcode ALLOWED_IMPORTS} that exist. Type-only imports (`import type`,
 * `export type ... from`) count like any other import, and so do dynamic
 * `import()`s. Imports of `npm:`, `node:` and `jsr:` modules, of bare
 * specifiers (the import map's, like `@logtape/logtape`) and of the vendored
 * driver are no library modules: they make no cycle, but rule 3 sees them.
 *
 * The graph comes from `deno info --json` (one run, rooted at a generated
 * module that imports every library module), which lists each dependency's
 * runtime (`code`) and type-only (`type`) resolution.
 *
 * Usage: `deno task layers`, or
 * `deno run --allow-read --allow-run tools/check_layers.ts [--root DIR]`
 * (`--root` defaults to the repository this script is in). Prints one summary
 * line and exits 0 when all is well; otherwise prints each problem and exits 1.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath, pathToFileURL } from "node:url";
import { join, relative, resolve, sep } from "node:path";

/**
 * Which layers each part of the library may import from. A key without `.ts`
 * is a layer, a folder directly under `src/` (its modules may import from the
 * listed layers, itself included); a key ending in `.ts` is a top-level entry
 * file. Every folder under `src/` must be a layer, and every file in `src/`
 * must be in one.
 */
const ALLOWED_IMPORTS: Readonly<Record<string, readonly string[]>> = {
  // Layers: folders under src/.
  core: ["core"],
  sql: ["core", "sql"], // what both SQL backends share
  telemetry: ["core", "telemetry"], // traces and this process's metrics
  execution: ["core", "telemetry", "execution"],
  worker: ["core", "telemetry", "execution", "worker"],
  client: ["core", "telemetry", "execution", "worker", "client"],
  postgres: ["core", "sql", "postgres"],
  sqlite: ["core", "sql", "sqlite"],
  testing: [
    "core",
    "telemetry",
    "execution",
    "worker",
    "client",
    "sqlite",
    "testing",
  ],
  cli: [
    "core",
    "telemetry",
    "execution",
    "worker",
    "client",
    "postgres",
    "sqlite",
    "sql",
    "cli",
    "dashboard",
  ],
  dashboard: [
    "core",
    "telemetry",
    "execution",
    "worker",
    "client",
    "dashboard",
  ],

  // Top-level entry files.
  "mod.ts": ["core", "telemetry", "execution", "worker", "client"],
  "backend.ts": ["core"],
  "testing.ts": ["testing", "core"],
  "backend_postgres.ts": ["postgres", "core"],
  "backend_sqlite.ts": ["sqlite", "core"],
  "cli.ts": ["cli"],
  "dashboard.ts": ["dashboard", "core"],
};

/**
 * Entry files that must not reach a database driver, even transitively:
 * nothing in their import closure may be under one of `paths`, nor be a
 * module whose specifier starts with one of `specifiers`.
 */
const DRIVER_FREE = {
  entries: ["mod.ts"],
  paths: ["src/postgres/", "src/sqlite/"],
  specifiers: ["node:sqlite", "node:net", "npm:postgres"],
} as const;

/** Vendored JavaScript: not a library module, and not checked. */
const VENDORED = "src/postgres/driver/";

/** The files under `src/` that are library modules. */
const MODULE_FILE = /\.(ts|mts|tsx)$/;

/** One dependency as `deno info --json` reports it. */
interface InfoDependency {
  specifier: string;
  code?: { specifier?: string; error?: string };
  type?: { specifier?: string; error?: string };
}

/** One module as `deno info --json` reports it. */
interface InfoModule {
  specifier: string;
  error?: string;
  dependencies?: InfoDependency[];
}

/** The part of `deno info --json`'s output read here. */
interface Info {
  modules: InfoModule[];
  redirects?: Record<string, string>;
}

/** Where a module stands in the layer table. */
type Place =
  | { kind: "rule"; rule: string } // a layer's module or an entry file
  | { kind: "no-layer" } // directly in src/, or in a folder not in the table
  | { kind: "outside" }; // neither: a local file outside the library

/** What the graph holds, keyed by root-relative paths with `/`. */
interface Graph {
  /** The library's modules, sorted. */
  modules: string[];
  /** Library module -> the library modules it imports. */
  edges: Map<string, Set<string>>;
  /** Library module -> other local files under `src/` it imports. */
  localImports: Map<string, Set<string>>;
  /** Library module -> non-local and non-library specifiers it imports. */
  externals: Map<string, Set<string>>;
  /** What could not be analysed. */
  errors: string[];
}

function toPosix(path: string): string {
  return sep === "/" ? path : path.split(sep).join("/");
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function isEntry(name: string): boolean {
  return name.endsWith(".ts");
}

function checkTable(): void {
  for (const [name, allowed] of Object.entries(ALLOWED_IMPORTS)) {
    for (const layer of allowed) {
      if (isEntry(layer) || !(layer in ALLOWED_IMPORTS)) {
        throw new Error(
          `ALLOWED_IMPORTS: ${name} lists unknown layer ${layer}`,
        );
      }
    }
  }
}

function placeOf(path: string): Place {
  if (!path.includes("/")) {
    return isEntry(path) && path in ALLOWED_IMPORTS
      ? { kind: "rule", rule: path }
      : { kind: "outside" };
  }
  if (!path.startsWith("src/")) return { kind: "outside" };
  const parts = path.split("/");
  if (parts.length === 2) return { kind: "no-layer" };
  const folder = parts[1];
  return folder in ALLOWED_IMPORTS && !isEntry(folder)
    ? { kind: "rule", rule: folder }
    : { kind: "no-layer" };
}

/** Lists the library's files, and reports what is in no layer. */
async function findModules(
  root: string,
  problems: string[],
): Promise<string[]> {
  const modules: string[] = [];
  for (const name of Object.keys(ALLOWED_IMPORTS)) {
    if (!isEntry(name)) continue;
    try {
      if ((await Deno.stat(join(root, name))).isFile) modules.push(name);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  const walk = async (dir: string): Promise<void> => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(join(root, dir)));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) {
        if (`${path}/` === VENDORED) continue;
        if (dir === "src" && !(entry.name in ALLOWED_IMPORTS)) {
          problems.push(`${path}/ is in no layer (not in the layer table)`);
        }
        await walk(path);
      } else if (entry.isFile && MODULE_FILE.test(entry.name)) {
        modules.push(path);
        if (dir === "src") problems.push(`${path} is in no layer`);
      }
    }
  };
  await walk("src");
  return modules.sort();
}

/** Runs `deno info --json` on a module that imports every library module. */
async function denoInfo(root: string, modules: string[]): Promise<Info> {
  const source = modules
    .map((path) =>
      `import ${JSON.stringify(pathToFileURL(join(root, path)).href)};\n`
    )
    .join("");
  const entry = `data:application/typescript,${encodeURIComponent(source)}`;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `deno info failed (exit ${code}):\n${new TextDecoder().decode(stderr)}`,
    );
  }
  return JSON.parse(new TextDecoder().decode(stdout)) as Info;
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0];
}

async function buildGraph(root: string, modules: string[]): Promise<Graph> {
  const graph: Graph = {
    modules,
    edges: new Map(modules.map((m) => [m, new Set<string>()])),
    localImports: new Map(modules.map((m) => [m, new Set<string>()])),
    externals: new Map(modules.map((m) => [m, new Set<string>()])),
    errors: [],
  };
  if (modules.length === 0) return graph;
  const info = await denoInfo(root, modules);
  const redirects = info.redirects ?? {};
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const lookup = (specifier: string) =>
    bySpecifier.get(redirects[specifier] ?? specifier);
  const library = new Set(modules);
  const localPath = (specifier: string): string | undefined =>
    specifier.startsWith("file:")
      ? toPosix(relative(root, fileURLToPath(specifier)))
      : undefined;

  for (const from of modules) {
    const module = lookup(pathToFileURL(join(root, from)).href);
    if (module === undefined) {
      graph.errors.push(`cannot analyse ${from}: deno info did not list it`);
      continue;
    }
    if (module.error !== undefined) {
      graph.errors.push(`cannot analyse ${from}: ${firstLine(module.error)}`);
      continue;
    }
    for (const dependency of module.dependencies ?? []) {
      const local = /^(\.{0,2}\/|file:)/.test(dependency.specifier);
      for (const resolution of [dependency.code, dependency.type]) {
        if (resolution === undefined) continue;
        if (resolution.specifier === undefined) {
          // Unresolved: a bare specifier the import map lacks is still an
          // external import; a local one that does not resolve is an error.
          if (local) {
            graph.errors.push(
              `${from} imports ${dependency.specifier}: ${
                firstLine(resolution.error ?? "cannot resolve it")
              }`,
            );
          } else {
            graph.externals.get(from)!.add(dependency.specifier);
          }
          continue;
        }
        const path = localPath(resolution.specifier);
        if (path === undefined) {
          // npm:, node:, jsr:, remote: keep the written and the resolved
          // specifier, so that rule 3 sees `postgres` mapped to npm:postgres.
          graph.externals.get(from)!.add(dependency.specifier);
          graph.externals.get(from)!.add(
            resolution.specifier.replace(/^npm:\//, "npm:"),
          );
          continue;
        }
        const target = lookup(resolution.specifier);
        if (target?.error !== undefined) {
          graph.errors.push(
            `${from} imports ${path}: ${firstLine(target.error)}`,
          );
        }
        if (library.has(path)) {
          graph.edges.get(from)!.add(path);
        } else if (path.startsWith("src/")) {
          graph.localImports.get(from)!.add(path);
        } else {
          graph.externals.get(from)!.add(path);
        }
      }
    }
  }
  return graph;
}

/** Tarjan's strongly connected components that hold a cycle. */
function cyclicComponents(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next);
    next++;
    stack.push(node);
    onStack.add(node);
    for (const to of [...graph.edges.get(node)!].sort()) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || graph.edges.get(node)!.has(node)) {
        components.push(component.sort());
      }
    }
  };
  for (const node of graph.modules) if (!index.has(node)) visit(node);
  return components.sort((a, b) => a[0] < b[0] ? -1 : 1);
}

/** A shortest cycle from `start` back to itself, within `component`. */
function shortestCycle(
  graph: Graph,
  component: Set<string>,
  start: string,
): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i];
    for (const to of [...graph.edges.get(node)!].sort()) {
      if (!component.has(to)) continue;
      if (to === start) {
        const back: string[] = [];
        for (let at = node; at !== start; at = parent.get(at)!) back.push(at);
        return [start, ...back.reverse(), start];
      }
      if (!parent.has(to)) {
        parent.set(to, node);
        queue.push(to);
      }
    }
  }
  throw new Error(`no cycle through ${start}`);
}

/** Each cycle group, with cycles through it that cover all its members. */
function reportCycles(graph: Graph, components: string[][]): string[] {
  const lines: string[] = [];
  for (const component of components) {
    lines.push(
      `import cycle among ${plural(component.length, "module")}: ${
        component.join(", ")
      }`,
    );
    const members = new Set(component);
    const covered = new Set<string>();
    for (const start of component) {
      if (covered.has(start)) continue;
      const cycle = shortestCycle(graph, members, start);
      for (const node of cycle) covered.add(node);
      lines.push(`  ${cycle.join(" -> ")}`);
    }
  }
  return lines;
}

function upwardImports(graph: Graph): string[] {
  const lines: string[] = [];
  for (const from of graph.modules) {
    const source = placeOf(from);
    if (source.kind !== "rule") continue;
    const allowed = ALLOWED_IMPORTS[source.rule];
    const targets = [
      ...graph.edges.get(from)!,
      ...graph.localImports.get(from)!,
    ]
      .sort();
    for (const to of targets) {
      const target = placeOf(to);
      if (target.kind !== "rule" || allowed.includes(target.rule)) continue;
      lines.push(
        `${from} imports ${to} (${source.rule} may import only: ${
          allowed.join(", ")
        })`,
      );
    }
  }
  return lines;
}

/** Rule 3: the entries in DRIVER_FREE reach no driver, however indirectly. */
function driverImports(graph: Graph): string[] {
  const lines: string[] = [];
  const isDriver = (name: string) =>
    DRIVER_FREE.paths.some((path) => name.startsWith(path)) ||
    DRIVER_FREE.specifiers.some((specifier) => name.startsWith(specifier));
  for (const entry of DRIVER_FREE.entries) {
    if (!graph.edges.has(entry)) continue;
    const parent = new Map<string, string>([[entry, ""]]);
    const pathTo = (node: string): string[] => {
      const path: string[] = [];
      for (let at = node; at !== ""; at = parent.get(at)!) path.unshift(at);
      return path;
    };
    const reached = new Set<string>();
    const queue: string[] = [entry];
    for (let i = 0; i < queue.length; i++) {
      const node = queue[i];
      if (isDriver(node)) {
        lines.push(`${entry} reaches ${node}: ${pathTo(node).join(" -> ")}`);
        continue; // one report for the first driver module on each path
      }
      const others = [
        ...graph.localImports.get(node)!,
        ...graph.externals.get(node)!,
      ].sort();
      for (const other of others) {
        if (!isDriver(other) || reached.has(other)) continue;
        reached.add(other);
        lines.push(
          `${entry} reaches ${other}: ${[...pathTo(node), other].join(" -> ")}`,
        );
      }
      for (const to of [...graph.edges.get(node)!].sort()) {
        if (parent.has(to)) continue;
        parent.set(to, node);
        queue.push(to);
      }
    }
  }
  return lines;
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { root: { type: "string" }, help: { type: "boolean" } },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(
      "Usage: deno run --allow-read --allow-run tools/check_layers.ts [--root DIR]",
    );
    return 0;
  }
  checkTable();
  const root = await Deno.realPath(
    resolve(values.root ?? fileURLToPath(new URL("..", import.meta.url))),
  );

  const noLayer: string[] = [];
  const modules = await findModules(root, noLayer);
  const graph = await buildGraph(root, modules);
  const components = cyclicComponents(graph);
  const upward = upwardImports(graph);
  const drivers = driverImports(graph);

  const others = noLayer.length + drivers.length + graph.errors.length;
  let summary = `layers: ${plural(modules.length, "module")}, ${
    plural(components.length, "cycle")
  }, ${plural(upward.length, "upward import")}`;
  if (components.length + upward.length + others === 0) {
    console.log(summary);
    return 0;
  }
  if (others > 0) summary += `, ${plural(others, "other problem")}`;
  const lines = [
    ...graph.errors,
    ...noLayer,
    ...reportCycles(graph, components),
    ...upward,
    ...drivers,
  ];
  console.error([...lines, summary].join("\n"));
  return 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
