/**
 * Offline checks of what JSR scores a package on, to catch a regression
 * before publishing:
 *
 * - every entry point in `deno.json` `exports` has `@module` docs with an
 *   example;
 * - every exported symbol of every entry point, and every public member of
 *   its classes, interfaces, enums and namespaces, has JSDoc (target 100%);
 * - every exported function and class, and every public method and
 *   accessor of its classes, has an `@example`, as denoland/std's
 *   `_tools/check_docs.ts` asks; constants, variables, interfaces, type
 *   aliases, enums and their members need none (house style for them: a
 *   concise summary, and `@default` on optional fields; not checked here);
 * - `deno doc --lint` is clean on the entry points;
 * - no slow types: `deno publish --dry-run` succeeds without warnings;
 * - the package has a README with a TypeScript example that imports it,
 *   and publishes it.
 *
 * What JSR also scores but is set on jsr.io (a description, the compatible
 * runtimes) or comes from CI (provenance) cannot be checked here.
 *
 * Usage: `deno task jsr-score` (exits non-zero when a check fails).
 *
 * @module
 */

import config from "../deno.json" with { type: "json" };

interface JsDoc {
  doc?: string;
  tags?: { kind: string; doc?: string }[];
}

interface Member {
  name?: string;
  jsDoc?: JsDoc;
  accessibility?: "public" | "protected" | "private";
  /** For class methods: `method`, `getter` or `setter`. */
  kind?: string;
  /** For class methods: whether the method is static. */
  isStatic?: boolean;
  /** For class methods: where the method is declared. */
  location?: Declaration["location"];
}

interface Declaration {
  kind: string;
  jsDoc?: JsDoc;
  location: { filename: string; line: number };
  def?: Record<string, unknown>;
}

interface DocSymbol {
  name: string;
  declarations: Declaration[];
}

interface DocModule {
  module_doc?: JsDoc;
  symbols: DocSymbol[];
}

interface DocOutput {
  version: number;
  nodes: Record<string, DocModule>;
}

interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  problems: string[];
}

const ROOT = new URL("../", import.meta.url);

/** The member lists of each declaration kind that are public API. */
const MEMBER_LISTS: Record<string, string[]> = {
  class: ["constructors", "properties", "methods", "indexSignatures"],
  interface: [
    "constructors",
    "properties",
    "methods",
    "callSignatures",
    "indexSignatures",
  ],
  enum: ["members"],
};

async function deno(
  args: string[],
): Promise<{ code: number; output: string; stdout: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const out = decoder.decode(stdout);
  return { code, output: out + decoder.decode(stderr), stdout: out };
}

function hasText(jsDoc: JsDoc | undefined): boolean {
  return (jsDoc?.doc ?? "").trim().length > 0;
}

function hasExample(jsDoc: JsDoc | undefined): boolean {
  return (jsDoc?.tags ?? []).some((tag) => tag.kind === "example");
}

function where(declaration: Declaration): string {
  const path = declaration.location.filename.replace(ROOT.href, "");
  return `${path}:${declaration.location.line}`;
}

/** The entry points: `deno.json` `exports`, as paths relative to the root. */
function entryPoints(): string[] {
  const exports: string | Record<string, string> = config.exports;
  return typeof exports === "string" ? [exports] : Object.values(exports);
}

/** The declaration kinds that need an example (std's rule). */
const EXAMPLE_KINDS = new Set(["function", "class"]);

/**
 * Whether a class member is public API that needs an example: a public
 * method or accessor (static ones too), not a property or constructor.
 */
function needsExample(member: Member): boolean {
  return member.accessibility !== "private" &&
    member.accessibility !== "protected" &&
    !(member.name?.startsWith("#") ?? false);
}

/**
 * Counts documented symbols and members, and those with an example; lists
 * the ones without.
 */
function checkSymbols(
  modules: DocModule[],
): { symbols: CheckResult; members: CheckResult; examples: CheckResult } {
  const seen = new Set<string>();
  const symbolProblems: string[] = [];
  const memberProblems: string[] = [];
  const exampleProblems: string[] = [];
  let symbolCount = 0;
  let memberCount = 0;
  let exampleCount = 0;

  const visit = (symbol: DocSymbol, prefix: string) => {
    for (const declaration of symbol.declarations) {
      // A re-export of another entry point's symbol is documented there.
      if (declaration.kind === "reference") continue;
      const name = `${prefix}${symbol.name}`;
      // A symbol re-exported by several entry points is counted once.
      const key = `${name} ${where(declaration)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      symbolCount++;
      if (!hasText(declaration.jsDoc)) {
        symbolProblems.push(
          `${name} (${declaration.kind}, ${where(declaration)})`,
        );
      }
      if (EXAMPLE_KINDS.has(declaration.kind)) {
        exampleCount++;
        if (!hasExample(declaration.jsDoc)) {
          exampleProblems.push(
            `${name} (${declaration.kind}, ${where(declaration)})`,
          );
        }
      }
      if (declaration.kind === "namespace") {
        const elements = (declaration.def?.elements ?? []) as DocSymbol[];
        for (const element of elements) visit(element, `${name}.`);
        continue;
      }
      for (const list of MEMBER_LISTS[declaration.kind] ?? []) {
        for (const member of (declaration.def?.[list] ?? []) as Member[]) {
          if (member.accessibility === "private") continue;
          if (member.name?.startsWith("#")) continue;
          memberCount++;
          const label = member.name ?? list.replace(/s$/, "");
          if (!hasText(member.jsDoc)) {
            memberProblems.push(`${name}.${label} (${where(declaration)})`);
          }
        }
      }
      if (declaration.kind !== "class") continue;
      // A getter and its setter are one accessor: one example does.
      const accessors = new Map<string, { ok: boolean; at: string }>();
      for (const method of (declaration.def?.methods ?? []) as Member[]) {
        if (!needsExample(method)) continue;
        const label = `${method.isStatic ? "static " : ""}${name}.${
          method.name ?? "method"
        }`;
        const at = method.location
          ? where({ ...declaration, location: method.location })
          : where(declaration);
        if (method.kind === "getter" || method.kind === "setter") {
          const seen = accessors.get(label);
          accessors.set(label, {
            ok: (seen?.ok ?? false) || hasExample(method.jsDoc),
            at: seen?.at ?? at,
          });
          continue;
        }
        exampleCount++;
        if (!hasExample(method.jsDoc)) {
          exampleProblems.push(`${label} (method, ${at})`);
        }
      }
      for (const [label, { ok, at }] of accessors) {
        exampleCount++;
        if (!ok) exampleProblems.push(`${label} (accessor, ${at})`);
      }
    }
  };
  for (const module of modules) {
    for (const symbol of module.symbols) visit(symbol, "");
  }
  const percent = (missing: number, total: number) =>
    total === 0 ? 100 : Math.floor(((total - missing) / total) * 1000) / 10;
  return {
    symbols: {
      name: "documented symbols",
      ok: symbolProblems.length === 0,
      detail: `${symbolCount - symbolProblems.length}/${symbolCount} (${
        percent(symbolProblems.length, symbolCount)
      }%)`,
      problems: symbolProblems.map((p) => `no JSDoc: ${p}`),
    },
    members: {
      name: "documented members",
      ok: memberProblems.length === 0,
      detail: `${memberCount - memberProblems.length}/${memberCount} (${
        percent(memberProblems.length, memberCount)
      }%)`,
      problems: memberProblems.map((p) => `no JSDoc: ${p}`),
    },
    examples: {
      name: "functions, classes, methods and accessors with an @example",
      ok: exampleProblems.length === 0,
      detail: `${exampleCount - exampleProblems.length}/${exampleCount} (${
        percent(exampleProblems.length, exampleCount)
      }%)`,
      problems: exampleProblems.map((p) => `no @example: ${p}`),
    },
  };
}

async function checkDocs(entries: string[]): Promise<CheckResult[]> {
  const { code, output, stdout } = await deno(["doc", "--json", ...entries]);
  if (code !== 0) {
    return [{
      name: "deno doc --json",
      ok: false,
      detail: `exit ${code}`,
      problems: [output.trim()],
    }];
  }
  const doc = JSON.parse(stdout) as DocOutput;
  const modules: DocModule[] = [];
  const moduleProblems: string[] = [];
  for (const entry of entries) {
    const module = doc.nodes[new URL(entry, ROOT).href];
    if (module === undefined) {
      moduleProblems.push(`${entry}: not in deno doc's output`);
      continue;
    }
    modules.push(module);
    if (!hasText(module.module_doc)) {
      moduleProblems.push(`${entry}: no @module doc`);
    } else if (!hasExample(module.module_doc)) {
      moduleProblems.push(`${entry}: its @module doc has no @example`);
    }
  }
  const { symbols, members, examples } = checkSymbols(modules);
  return [
    {
      name: "module docs with an example",
      ok: moduleProblems.length === 0,
      detail: `${
        entries.length - moduleProblems.length
      }/${entries.length} entry points`,
      problems: moduleProblems,
    },
    symbols,
    members,
    examples,
  ];
}

async function checkDocLint(entries: string[]): Promise<CheckResult> {
  const { code, output } = await deno(["doc", "--lint", ...entries]);
  return {
    name: "deno doc --lint",
    ok: code === 0,
    detail: code === 0 ? "clean" : `exit ${code}`,
    problems: code === 0 ? [] : [output.trim()],
  };
}

/**
 * Publish warnings that are intended: the CLI imports the user's workflow
 * modules, found at run time, by file URL (nothing to rewrite at publish).
 * Not a slow type; JSR's score does not count it.
 */
const ACCEPTED = [
  { code: "unanalyzable-dynamic-import", file: "src/cli/load.ts" },
];

/** Runs `deno publish --dry-run`; returns its check and the files it lists. */
async function checkPublish(): Promise<
  { result: CheckResult; files: string[] }
> {
  const { code, output } = await deno([
    "publish",
    "--dry-run",
    "--allow-dirty",
  ]);
  const files = [...output.matchAll(/^\s+(file:\/\/\S+)/gm)].map((m) =>
    m[1].replace(ROOT.href, "")
  );
  // Each warning or error, with the file its `-->` line names; those
  // ACCEPTED are left out.
  const lines = output.split("\n");
  const warnings = lines.flatMap((line, i) => {
    const kind = /^(?:warning|error)\[([^\]]+)\]/.exec(line);
    if (kind === null) return [];
    const at = /-->\s+(\S+?):\d+/.exec(lines[i + 1] ?? "")?.[1] ?? "";
    const accepted = ACCEPTED.some((a) =>
      a.code === kind[1] && at.endsWith(a.file)
    );
    return accepted ? [] : [line];
  });
  const ok = code === 0 && warnings.length === 0;
  return {
    result: {
      name: "no slow types (deno publish --dry-run)",
      ok,
      detail: ok
        ? `${files.length} files, no warnings`
        : `exit ${code}, ${warnings.length} warnings or errors`,
      problems: ok ? [] : [output.trim()],
    },
    files,
  };
}

async function checkReadme(published: string[]): Promise<CheckResult> {
  const problems: string[] = [];
  let text = "";
  try {
    text = await Deno.readTextFile(new URL("README.md", ROOT));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    problems.push("README.md is missing");
  }
  if (text !== "" && !published.includes("README.md")) {
    problems.push("README.md is not published (deno.json publish.include)");
  }
  const fences = [
    ...text.matchAll(/```(ts|typescript|js|javascript)\n([\s\S]*?)```/g),
  ];
  const examples = fences.filter(([, , code]) =>
    code.includes(`from "${config.name}`)
  );
  if (text !== "" && examples.length === 0) {
    problems.push(
      `README.md has no TypeScript or JavaScript example importing "${config.name}"`,
    );
  }
  return {
    name: "README with examples",
    ok: problems.length === 0,
    detail: problems.length === 0
      ? `${examples.length} examples importing ${config.name}`
      : "incomplete",
    problems,
  };
}

async function main(): Promise<number> {
  const entries = entryPoints();
  const [docs, lint, publish] = await Promise.all([
    checkDocs(entries),
    checkDocLint(entries),
    checkPublish(),
  ]);
  const results = [
    ...docs,
    lint,
    publish.result,
    await checkReadme(publish.files),
  ];
  console.log(`JSR score checks for ${config.name} (${entries.join(", ")}):`);
  for (const result of results) {
    console.log(
      `${result.ok ? "ok  " : "FAIL"}  ${result.name}: ${result.detail}`,
    );
    for (const problem of result.problems) {
      console.log(problem.replace(/^/gm, "        "));
    }
  }
  console.log(
    "not checked offline: the description and runtime compatibility set on jsr.io, provenance",
  );
  const failed = results.filter((result) => !result.ok).length;
  console.log(
    failed === 0
      ? `jsr-score: all ${results.length} checks succeeded`
      : `jsr-score: ${failed} of ${results.length} checks failed`,
  );
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
