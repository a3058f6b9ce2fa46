/**
 * JSON values: the types every input, output and step result must fit, the
 * validation that rejects what does not, and the error (de)serialization.
 *
 * @module
 */

import * as errors from "./errors.ts";
import { NotJsonError } from "./errors.ts";

/**
 * A JSON primitive.
 *
 * @example
 * ```ts
 * import type { JsonPrimitive } from "@openworkflow/core";
 *
 * const primitives: JsonPrimitive[] = ["text", 42, true, null];
 * console.log(JSON.stringify(primitives)); // ["text",42,true,null]
 * ```
 */
export type JsonPrimitive = string | number | boolean | null;

/**
 * A JSON-serializable value. All workflow inputs, outputs and step results
 * must be JSON values.
 *
 * @example
 * ```ts
 * import type { JsonValue } from "@openworkflow/core";
 *
 * const value: JsonValue = { ids: [1, 2], done: false, note: null };
 * console.log(JSON.stringify(value));
 * ```
 */
export type JsonValue =
  | JsonPrimitive
  | JsonValue[]
  | { [key: string]: JsonValue };

/**
 * Converts `value` to a JSON value with `JSON.stringify` semantics
 * (`toJSON()` is called, so a `Date` becomes its ISO string; `undefined`
 * object properties are dropped; `undefined` array items, `NaN` and
 * `Infinity` become `null`; a top-level `undefined` becomes `null`), but
 * rejects what JSON would silently lose or cannot represent: functions,
 * symbols, `BigInt`s and cyclic references, anywhere in the value.
 *
 * Returns the JSON text and the converted value.
 *
 * @throws {NotJsonError} naming `subject` and the path of the offending part.
 */
export function encodeJson(
  value: unknown,
  subject: string,
): { text: string; value: JsonValue } {
  const converted = convert(value, subject, "", "", new Set(), 0);
  const normalized = converted === undefined ? null : converted;
  const text = JSON.stringify(normalized);
  if (typeof normalized === "object" && normalized !== null) {
    encodedTexts.set(normalized, text);
  }
  return { text, value: normalized };
}

/**
 * The text `encodeJson` made for each value it returned, so that a backend
 * storing the value does not stringify it a second time. Values are the
 * engine's own normalized copies, never mutated after encoding.
 */
const encodedTexts = new WeakMap<object, string>();

/**
 * The JSON text of `value` for a JSON (or text) column: the text
 * `encodeJson` already made when the engine encoded this very value (no
 * second pass over a payload of up to 16 MiB), else `JSON.stringify(value)`.
 * `null` and `undefined` are SQL `NULL`, returned as `null`.
 *
 * @example
 * ```ts
 * import { jsonText } from "@openworkflow/core/backend";
 *
 * console.log(jsonText({ total: 42 })); // {"total":42}
 * console.log(jsonText(null)); // null
 * ```
 */
export function jsonText(value: JsonValue | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  return (typeof value === "object" ? encodedTexts.get(value) : undefined) ??
    JSON.stringify(value);
}

const MAX_DEPTH = 1000;

function convert(
  value: unknown,
  subject: string,
  path: string,
  key: string,
  ancestors: Set<object>,
  depth: number,
): JsonValue | undefined {
  // `toJSON` gets the property name or array index, as from JSON.stringify.
  if (
    value !== null && typeof value === "object" &&
    typeof (value as { toJSON?: unknown }).toJSON === "function"
  ) {
    value = (value as { toJSON(key: string): unknown }).toJSON(key);
  }
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? value : null;
    case "undefined":
      return undefined;
    case "function":
    case "symbol":
    case "bigint":
      throw new NotJsonError(
        `Cannot serialize ${subject}: ${
          path === "" ? "the value" : `'${path}'`
        } is a ${typeof value}, which is not JSON`,
      );
  }
  if (value === null) return null;
  const object = value as object;
  if (ancestors.has(object)) {
    throw new NotJsonError(
      `Cannot serialize ${subject}: ${
        path === "" ? "the value" : `'${path}'`
      } refers back to one of its parents (cyclic value)`,
    );
  }
  if (depth >= MAX_DEPTH) {
    throw new NotJsonError(
      `Cannot serialize ${subject}: nested deeper than ${MAX_DEPTH} levels at '${path}'`,
    );
  }
  ancestors.add(object);
  try {
    if (Array.isArray(object)) {
      // Holes of a sparse array become `null`, as in the text.
      return Array.from(object, (item, index) =>
        convert(
          item,
          subject,
          `${path}[${index}]`,
          String(index),
          ancestors,
          depth + 1,
        ) ?? null);
    }
    if (
      object instanceof Boolean || object instanceof Number ||
      object instanceof String || object instanceof BigInt
    ) {
      return convert(
        object.valueOf(),
        subject,
        path,
        key,
        ancestors,
        depth + 1,
      );
    }
    const result: { [key: string]: JsonValue } = {};
    for (const key of Object.keys(object)) {
      const item = convert(
        (object as Record<string, unknown>)[key],
        subject,
        path === "" ? key : `${path}.${key}`,
        key,
        ancestors,
        depth + 1,
      );
      if (item !== undefined) result[key] = item;
    }
    return result;
  } finally {
    ancestors.delete(object);
  }
}

/**
 * The stored form of an error: `name`, `message`, `stack` (when the error
 * has one), `cause` (stored the same way), and the error's other own
 * enumerable JSON properties (such as `code`).
 *
 * @example Read the error of a failed step attempt
 * ```ts
 * import type { SerializedError } from "@openworkflow/core";
 *
 * const stored: SerializedError = {
 *   name: "TypeError",
 *   message: "user.email is undefined",
 *   stack: "TypeError: user.email is undefined\n    at send (app.ts:12:5)",
 *   code: "E_NO_EMAIL",
 * };
 * console.log(`${stored.name}: ${stored.message}`);
 * ```
 */
export type SerializedError = { name: string; message: string } & {
  [key: string]: JsonValue;
};

/**
 * Serializes any thrown value for storage. Non-`Error` values (`throw "x"`,
 * `throw null`) are stored as an `Error` whose message describes them.
 */
export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) {
    let message: string;
    try {
      message = typeof error === "string"
        ? error
        : `Non-error value thrown: ${JSON.stringify(error) ?? String(error)}`;
    } catch {
      message = `Non-error value thrown: ${
        Object.prototype.toString.call(error)
      }`;
    }
    return { name: "Error", message: cap(message) };
  }
  const result: SerializedError = {
    name: cap(String(error.name)),
    message: cap(String(error.message)),
  };
  if (typeof error.stack === "string") result.stack = cap(error.stack);
  for (const key of Object.keys(error)) {
    if (key === "name" || key === "message" || key === "stack") continue;
    if (key === "cause") continue;
    try {
      const { text, value } = encodeJson(
        (error as unknown as Record<string, unknown>)[key],
        "error property",
      );
      // A property too large to store is left out.
      if (text.length <= MAX_ERROR_TEXT) result[key] = value;
    } catch {
      // A property that is not JSON is left out rather than failing the run.
    }
  }
  if (error.cause !== undefined && depth < 8) {
    result.cause = serializeError(error.cause, depth + 1);
  }
  return result;
}

/**
 * The most characters of an error's name, message, stack or property that
 * are stored: 64 Ki. A longer text is cut, and says so, so that a stored
 * error stays far below the payload limit however large the thrown one.
 */
const MAX_ERROR_TEXT = 64 * 1024;

function cap(text: string): string {
  return text.length <= MAX_ERROR_TEXT
    ? text
    : `${text.slice(0, MAX_ERROR_TEXT)}… [${
      text.length - MAX_ERROR_TEXT
    } more characters cut]`;
}

/** The error classes a stored error comes back as, by name. */
const ERROR_CLASSES: Record<string, ErrorConstructorLike | undefined> = {
  __proto__: null as never,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  ...errors,
};

type ErrorConstructorLike = abstract new (...args: never[]) => Error;

/**
 * Rehydrates a stored error: an `Error` with the stored `name`, `message`,
 * `stack`, other properties and `cause`. A built-in error (`TypeError`,
 * `RangeError`, …) or one of this library's comes back as an instance of
 * its class.
 */
export function deserializeError(stored: JsonValue | null): Error {
  if (stored === null || typeof stored !== "object" || Array.isArray(stored)) {
    return new Error(`Unknown error: ${JSON.stringify(stored)}`);
  }
  const { name, message, stack, cause, ...rest } = stored;
  // Built-in and library error classes come back as themselves, so that
  // `instanceof` holds on replay as it did when the error was thrown. The
  // library's classes are made without their constructors (whose
  // arguments differ); their fields come back with the other properties.
  const ErrorClass = (typeof name === "string" && ERROR_CLASSES[name]) ||
    Error;
  const error: Error = Reflect.construct(
    ErrorClass.prototype instanceof errors.OpenWorkflowError ||
      ErrorClass === errors.OpenWorkflowError
      ? Error
      : ErrorClass,
    [typeof message === "string" ? message : "", {
      cause: cause === undefined ? undefined : deserializeError(cause),
    }],
    ErrorClass,
  );
  if (cause === undefined) delete (error as { cause?: unknown }).cause;
  Object.defineProperty(error, "name", {
    value: typeof name === "string" ? name : "Error",
    configurable: true,
    writable: true,
    enumerable: false,
  });
  if (typeof stack === "string") {
    Object.defineProperty(error, "stack", {
      value: stack,
      configurable: true,
      writable: true,
      enumerable: false,
    });
  }
  // Defined, not assigned: a stored `__proto__` key stays a plain property.
  for (const [key, item] of Object.entries(rest)) {
    Object.defineProperty(error, key, {
      value: item,
      configurable: true,
      writable: true,
      enumerable: true,
    });
  }
  return error;
}
