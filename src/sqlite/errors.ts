/**
 * What went wrong with a SQLite database, for `BackendError`s that name the
 * path and the problem: from SQLite's result code, and, when a file cannot
 * be opened or written, from a look at the file system (`node:fs`, which
 * Deno, Node and Bun all provide).
 *
 * @module
 */

import { access, constants, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { BackendError, type BackendProblem } from "../core/errors.ts";

/** A problem, and how an error message says it. */
interface Finding {
  problem: BackendProblem;
  /** Shown in parentheses after the path. */
  text: string;
}

/**
 * What a SQLite primary result code says about the database, and the text
 * of SQLite's message for it (some runtimes leave out the code on a few
 * paths; the message then tells).
 */
const RESULT_CODES: ReadonlyArray<Finding & { code: number; message: RegExp }> =
  [
    {
      code: 3,
      problem: "permission-denied",
      text: "permission denied",
      message: /^access permission denied/,
    },
    {
      code: 8,
      problem: "read-only",
      text: "the database is read-only",
      message: /^attempt to write a readonly database/,
    },
    {
      code: 10,
      problem: "io-error",
      text: "disk I/O error",
      message: /^disk I\/O error/,
    },
    {
      code: 11,
      problem: "corrupt",
      text: "the file is corrupt",
      message: /^database disk image is malformed/,
    },
    {
      code: 13,
      problem: "disk-full",
      text: "the disk is full",
      message: /^database or disk is full/,
    },
    {
      code: 14,
      problem: "cannot-open",
      text: "the file cannot be opened",
      message: /^unable to open database/,
    },
    {
      code: 26,
      problem: "not-a-database",
      text: "the file is not a SQLite database",
      message: /^file is not a database/,
    },
  ];

/** `SQLITE_READONLY_DIRECTORY`: the directory of the file is read-only. */
const READONLY_DIRECTORY = 8 | (6 << 8);

/** Says what `action` did on the database at `location`. */
export function describeAction(action: string, location: string): string {
  const where = `SQLite database ${JSON.stringify(location)}`;
  return action === "open" ? `open ${where}` : `${action} in ${where}`;
}

function classify(error: Error): Finding | undefined {
  const errcode = (error as { errcode?: unknown }).errcode;
  if (typeof errcode === "number") {
    if (errcode === READONLY_DIRECTORY) {
      return {
        problem: "read-only",
        text: "the database is read-only: its directory is not writable",
      };
    }
    const found = RESULT_CODES.find((r) => r.code === (errcode & 0xff));
    if (found !== undefined) return found;
  }
  return RESULT_CODES.find((r) => r.message.test(error.message));
}

/**
 * Wraps a driver error in a `BackendError` naming the location and, when
 * SQLite's result code tells, the problem. Errors of the library itself
 * (such as `LeaseLostError`) pass through unchanged.
 */
export function sqliteError(
  action: string,
  location: string,
  error: unknown,
): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (
    !(error instanceof Error) || typeof code !== "string" ||
    !code.startsWith("ERR_")
  ) {
    return error;
  }
  const finding = classify(error);
  return new BackendError(
    `${describeAction(action, location)}${
      finding === undefined ? "" : ` (${finding.text})`
    }`,
    { cause: error, location, problem: finding?.problem },
  );
}

/**
 * The file path in a location given to `connect()`: the location itself,
 * or the path of a `file:` URI; `null` for an in-memory database.
 */
export function filePathOf(location: string): string | null {
  if (location === ":memory:" || location === "") return null;
  if (!location.startsWith("file:")) return location;
  let path = location.slice("file:".length);
  const queryAt = path.search(/[?#]/);
  const query = queryAt < 0 ? "" : path.slice(queryAt);
  if (queryAt >= 0) path = path.slice(0, queryAt);
  if (/[?&]mode=memory(&|#|$)/.test(query)) return null;
  if (path.startsWith("//")) {
    // file://host/path: SQLite accepts only an empty host or "localhost".
    const slash = path.indexOf("/", 2);
    if (slash < 0) return null;
    path = path.slice(slash);
  }
  try {
    path = decodeURIComponent(path);
  } catch {
    return null;
  }
  return path === "" || path === ":memory:" ? null : path;
}

/**
 * Why `path` cannot be used, from the file system: `undefined` when the
 * file system shows nothing wrong, or cannot be asked (as under Deno
 * without read permission).
 *
 * Only to explain a failure SQLite reported, never to decide on its own:
 * Deno's `access()` reads the permission bits, and so denies root what the
 * kernel allows. No file is opened: closing a descriptor of the database
 * file would drop the locks SQLite holds on it in this process.
 *
 * @param path The database file.
 */
export async function diagnosePath(
  path: string,
): Promise<Finding | undefined> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch (error) {
    switch (errorCode(error)) {
      case "ENOENT":
      case "ENOTDIR":
        return await diagnoseDirectory(dirname(path));
      case "EACCES":
        return {
          problem: "permission-denied",
          text:
            "permission denied: a directory on its path may not be searched",
        };
      default:
        return undefined;
    }
  }
  if (isDirectory) {
    return { problem: "is-directory", text: "it is a directory" };
  }
  return await deniedAccess(path, constants.R_OK, "the file cannot be read") ??
    await deniedAccess(path, constants.W_OK, "the file cannot be written") ??
    await deniedAccess(
      dirname(path),
      constants.W_OK,
      `its directory ${
        JSON.stringify(dirname(path))
      } is not writable (SQLite keeps its journal files next to the database)`,
    );
}

async function diagnoseDirectory(dir: string): Promise<Finding | undefined> {
  const quoted = JSON.stringify(dir);
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(dir)).isDirectory();
  } catch (error) {
    switch (errorCode(error)) {
      case "ENOENT":
      case "ENOTDIR":
        return {
          problem: "not-found",
          text: `its directory ${quoted} does not exist`,
        };
      case "EACCES":
        return {
          problem: "permission-denied",
          text:
            `permission denied: a directory on the path of ${quoted} may not be searched`,
        };
      default:
        return undefined;
    }
  }
  if (!isDirectory) {
    return {
      problem: "not-found",
      text: `its directory ${quoted} is not a directory`,
    };
  }
  return await deniedAccess(
    dir,
    constants.W_OK,
    `the file cannot be created in its directory ${quoted}`,
  );
}

/**
 * Checks `mode` access to `path`: a finding when it is denied (or the file
 * system is read-only), else `undefined`.
 */
async function deniedAccess(
  path: string,
  mode: number,
  what: string,
): Promise<Finding | undefined> {
  try {
    await access(path, mode);
    return undefined;
  } catch (error) {
    switch (errorCode(error)) {
      case "EACCES":
      case "EPERM":
        return {
          problem: "permission-denied",
          text: `permission denied: ${what}`,
        };
      case "EROFS":
        return {
          problem: "read-only",
          text: `the file system is read-only: ${what}`,
        };
      default:
        return undefined;
    }
  }
}

function errorCode(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}

/**
 * Replaces a `BackendError` from opening `location` that could not say why
 * the file cannot be opened or written by one that says, from the file
 * system. Other errors are returned unchanged.
 */
export async function explainOpenError(
  location: string,
  error: unknown,
): Promise<unknown> {
  if (
    !(error instanceof BackendError) ||
    (error.problem !== "cannot-open" && error.problem !== "read-only")
  ) {
    return error;
  }
  const path = filePathOf(location);
  const finding = path === null ? undefined : await diagnosePath(path);
  if (finding === undefined) return error;
  return new BackendError(
    `${describeAction("open", location)} (${finding.text})`,
    { cause: error.cause, location, problem: finding.problem },
  );
}
