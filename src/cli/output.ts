/**
 * What the CLI prints: aligned tables and key-value blocks for people
 * (colors only on a terminal, never with `NO_COLOR`), one JSON document
 * for scripts, and the errors that end a command with an exit code.
 *
 * @module
 */

/** Where a command writes, and what it knows of its terminal. */
export interface Io {
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /** Whether standard output is a terminal (progress, colors). */
  isTty: boolean;
  /** The environment. */
  env: (name: string) => string | undefined;
}

/** A command line that does not parse: exit code 2, with the usage. */
export class UsageError extends Error {
  /** The error's name, `"UsageError"`. */
  override name = "UsageError" as const;
  /** The usage text of the command that was given. */
  readonly usage: string;

  /**
   * @param message What is wrong.
   * @param usage The usage text to show.
   */
  constructor(message: string, usage: string) {
    super(message);
    this.usage = usage;
  }
}

/** A command that could not do what it was asked: exit code 1. */
export class CommandError extends Error {
  /** The error's name, `"CommandError"`. */
  override name = "CommandError" as const;
}

/** Text styles, empty unless colors are on. */
export interface Styles {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
}

/** The styles for `io`: ANSI colors on a terminal without `NO_COLOR`. */
export function stylesFor(io: Io): Styles {
  const noColor = io.env("NO_COLOR");
  const on = io.isTty && (noColor === undefined || noColor === "");
  const wrap = (open: number, close: number) => (text: string) =>
    on ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  return {
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
  };
}

/** The color of a run or step status. */
export function colorStatus(styles: Styles, status: string): string {
  switch (status) {
    case "succeeded":
      return styles.green(status);
    case "failed":
      return styles.red(status);
    case "canceled":
      return styles.dim(status);
    case "running":
    case "sleeping":
    case "pending":
      return styles.yellow(status);
    default:
      return status;
  }
}

/** The visible width of a string without its ANSI escapes. */
function width(text: string): number {
  // deno-lint-ignore no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, "").length;
}

/**
 * A table: a header row and rows, each column padded to its widest cell;
 * the last column is not padded.
 */
export function table(
  styles: Styles,
  header: string[],
  rows: string[][],
): string {
  const widths = header.map((h, i) =>
    Math.max(width(h), ...rows.map((row) => width(row[i] ?? "")))
  );
  const line = (cells: string[]) =>
    cells.map((cell, i) =>
      i === cells.length - 1 ? cell : cell + " ".repeat(widths[i] - width(cell))
    ).join("  ").trimEnd();
  return [styles.bold(line(header)), ...rows.map(line)].join("\n") + "\n";
}

/** A time for people: ISO, to the second, in UTC; `-` for none. */
export function time(date: Date | null): string {
  return date === null ? "-" : date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A duration for people: `850 ms`, `2.5 s`, `3 m 20 s`, `-` for none. */
export function duration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return "-";
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) {
    return `${minutes} m ${Math.round((ms % 60_000) / 1_000)} s`;
  }
  return `${Math.floor(minutes / 60)} h ${minutes % 60} m`;
}

/** An error as one line: its name and message. */
export function errorLine(error: unknown): string {
  if (error !== null && typeof error === "object") {
    const { name, message } = error as { name?: unknown; message?: unknown };
    if (typeof message === "string") {
      return typeof name === "string" && name !== "Error"
        ? `${name}: ${message}`
        : message;
    }
  }
  return String(error);
}

/** One JSON document, as scripts read it. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}
