import assert from "node:assert/strict";
import {
  deserializeError,
  encodeJson,
  jsonText,
  type JsonValue,
  type SerializedError,
  serializeError,
} from "../../../src/core/json.ts";
import {
  NotJsonError,
  OpenWorkflowError,
  StepTimeoutError,
} from "../../../src/core/errors.ts";

/** The most characters of a stored error text. */
const MAX_ERROR_TEXT = 64 * 1024;

function assertNotJson(
  value: unknown,
  subject: string,
  message: string,
): void {
  assert.throws(
    () => encodeJson(value, subject),
    (error: unknown) =>
      error instanceof NotJsonError && error instanceof TypeError &&
      error.name === "NotJsonError" && error.message === message,
    message,
  );
}

function nested(depth: number, wrap: (inner: unknown) => unknown): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = wrap(value);
  return value;
}

// encodeJson

Deno.test("encodeJson() keeps JSON primitives", () => {
  for (const value of ["text", "", 0, -1.5, 1e300, true, false, null]) {
    assert.deepEqual(encodeJson(value, "input"), {
      text: JSON.stringify(value),
      value,
    });
  }
});

Deno.test("encodeJson() turns undefined, NaN and Infinity into null", () => {
  for (const value of [undefined, NaN, Infinity, -Infinity]) {
    assert.deepEqual(encodeJson(value, "input"), { text: "null", value: null });
  }
});

Deno.test("encodeJson() normalizes like JSON.stringify", () => {
  const input = {
    at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)),
    invalid: new Date(NaN),
    gone: undefined,
    list: [1, undefined, NaN, -Infinity, "x"],
    nested: { kept: 1, dropped: undefined, deeper: { ok: true } },
    boxed: [new Number(3), new String("s"), new Boolean(false)],
    map: new Map([["a", 1]]),
    set: new Set([1]),
    [Symbol("hidden")]: 1,
  };
  Object.defineProperty(input, "hidden", { value: 1, enumerable: false });
  const { text, value } = encodeJson(input, "input");
  assert.equal(text, JSON.stringify(input));
  assert.deepEqual(value, JSON.parse(text));
  assert.deepEqual(value, {
    at: "2024-01-02T03:04:05.006Z",
    invalid: null,
    list: [1, null, null, null, "x"],
    nested: { kept: 1, deeper: { ok: true } },
    boxed: [3, "s", false],
    map: {},
    set: {},
  });
});

Deno.test("encodeJson() calls toJSON() and converts what it returns", () => {
  let calls = 0;
  class Money {
    constructor(readonly cents: number) {}
    toJSON() {
      calls++;
      return { amount: this.cents / 100, at: new Date(0) };
    }
  }
  const { value, text } = encodeJson({ price: new Money(1250) }, "output");
  assert.deepEqual(value, {
    price: { amount: 12.5, at: "1970-01-01T00:00:00.000Z" },
  });
  assert.equal(
    text,
    '{"price":{"amount":12.5,"at":"1970-01-01T00:00:00.000Z"}}',
  );
  assert.equal(calls, 1);
  // toJSON() returning undefined drops the property, as in JSON.
  assert.deepEqual(
    encodeJson({ a: { toJSON: () => undefined } }, "x").value,
    {},
  );
});

Deno.test("encodeJson() returns a copy, leaving the value alone", () => {
  const input = { list: [1, { a: 2 }], at: new Date(0) };
  const { value } = encodeJson(input, "input");
  assert.notEqual(value, input);
  ((value as { list: JsonValue[] }).list[1] as { a: number }).a = 99;
  assert.deepEqual(input.list[1], { a: 2 });
  assert.ok(input.at instanceof Date);
});

Deno.test("encodeJson() accepts the same object twice when it is no cycle", () => {
  const shared = { n: 1 };
  assert.equal(
    encodeJson({ a: shared, b: [shared, shared] }, "input").text,
    '{"a":{"n":1},"b":[{"n":1},{"n":1}]}',
  );
});

Deno.test("encodeJson() rejects functions, symbols and BigInts, naming the subject and path", () => {
  assertNotJson(
    () => 1,
    "input of workflow 'w'",
    "Cannot serialize input of workflow 'w': the value is a function, which is not JSON",
  );
  assertNotJson(
    Symbol("s"),
    "input",
    "Cannot serialize input: the value is a symbol, which is not JSON",
  );
  assertNotJson(
    10n,
    "input",
    "Cannot serialize input: the value is a bigint, which is not JSON",
  );
  assertNotJson(
    { a: { b: [1, () => 2] } },
    "output of step 'load'",
    "Cannot serialize output of step 'load': 'a.b[1]' is a function, which is not JSON",
  );
  assertNotJson(
    [[0, { total: 5n }]],
    "input",
    "Cannot serialize input: '[0][1].total' is a bigint, which is not JSON",
  );
  assertNotJson(
    { tag: Symbol("t") },
    "input",
    "Cannot serialize input: 'tag' is a symbol, which is not JSON",
  );
  // Where JSON.stringify would quietly drop or null it.
  assertNotJson(
    { f() {} },
    "input",
    "Cannot serialize input: 'f' is a function, which is not JSON",
  );
  assertNotJson(
    { a: { toJSON: () => () => 1 } },
    "input",
    "Cannot serialize input: 'a' is a function, which is not JSON",
  );
});

Deno.test("encodeJson() rejects cycles, naming the path", () => {
  const object: Record<string, unknown> = { a: 1 };
  object.self = object;
  assertNotJson(
    object,
    "input",
    "Cannot serialize input: 'self' refers back to one of its parents (cyclic value)",
  );
  const list: unknown[] = [1];
  list.push({ inner: [list] });
  assertNotJson(
    list,
    "input",
    "Cannot serialize input: '[1].inner[0]' refers back to one of its parents (cyclic value)",
  );
  const viaToJson = { toJSON: () => ({ back: viaToJson }) };
  assert.throws(() => encodeJson({ x: viaToJson }, "input"), NotJsonError);
});

Deno.test("encodeJson() accepts 1000 levels of nesting and rejects 1001", () => {
  const arrays = nested(1000, (inner) => [inner]);
  assert.equal(
    encodeJson(arrays, "input").text,
    `${"[".repeat(1000)}0${"]".repeat(1000)}`,
  );
  assertNotJson(
    nested(1001, (inner) => [inner]),
    "input",
    `Cannot serialize input: nested deeper than 1000 levels at '${
      "[0]".repeat(1000)
    }'`,
  );
  assert.throws(
    () => encodeJson(nested(1001, (inner) => ({ a: inner })), "input"),
    (error: unknown) =>
      error instanceof NotJsonError &&
      error.message.endsWith(`at '${Array(1000).fill("a").join(".")}'`),
  );
  encodeJson(nested(1000, (inner) => ({ a: inner })), "input");
});

// jsonText

Deno.test("jsonText() of null or undefined is null", () => {
  assert.equal(jsonText(null), null);
  assert.equal(jsonText(undefined), null);
});

Deno.test("jsonText() stringifies primitives and values encodeJson did not make", () => {
  assert.equal(jsonText("a"), '"a"');
  assert.equal(jsonText(0), "0");
  assert.equal(jsonText(false), "false");
  assert.equal(jsonText({ b: [1, "2"] }), '{"b":[1,"2"]}');
});

Deno.test("jsonText() returns the very text encodeJson made for the value it returned", () => {
  const { text, value } = encodeJson({ total: 1, at: new Date(0) }, "output");
  assert.equal(jsonText(value), text);
  // The text is reused, not made again: a value changed after encoding
  // (which the engine never does) still gives the text of encoding time...
  (value as { total: number }).total = 2;
  assert.equal(jsonText(value), text);
  // ...while an equal object that encodeJson did not return is stringified.
  assert.equal(jsonText({ ...(value as object) }), JSON.stringify(value));
  assert.notEqual(JSON.stringify(value), text);
});

// serializeError

Deno.test("serializeError() keeps name, message and stack", () => {
  const error = new TypeError("bad input");
  assert.deepEqual(serializeError(error), {
    name: "TypeError",
    message: "bad input",
    stack: error.stack!,
  });
  const noStack = new Error("x");
  delete (noStack as { stack?: string }).stack;
  assert.equal("stack" in serializeError(noStack), false);
});

Deno.test("serializeError() keeps the error's other JSON properties, and leaves out the rest", () => {
  class HttpError extends Error {
    override name = "HttpError";
    status = 503;
    details = { retryAfter: new Date(0), tags: ["a"] };
    handler = () => {};
    big = 1n;
    huge = "x".repeat(MAX_ERROR_TEXT);
  }
  const stored = serializeError(new HttpError("unavailable"));
  assert.deepEqual(
    { ...stored, stack: undefined },
    {
      name: "HttpError",
      message: "unavailable",
      stack: undefined,
      status: 503,
      details: { retryAfter: "1970-01-01T00:00:00.000Z", tags: ["a"] },
    },
  );
  assert.deepEqual(JSON.parse(JSON.stringify(stored)), stored);
});

Deno.test("serializeError() stores the cause chain", () => {
  const error = new Error("outer", {
    cause: new RangeError("middle", { cause: "innermost" }),
  });
  const stored = serializeError(error);
  const middle = stored.cause as SerializedError;
  assert.equal(middle.name, "RangeError");
  assert.equal(middle.message, "middle");
  assert.deepEqual(middle.cause, { name: "Error", message: "innermost" });
});

Deno.test("serializeError() stores at most 8 causes, cycles included", () => {
  const looping = new Error("loop");
  looping.cause = looping;
  let stored: SerializedError | undefined = serializeError(looping);
  let levels = 0;
  while (stored !== undefined) {
    levels++;
    assert.equal(stored.message, "loop");
    stored = stored.cause as SerializedError | undefined;
  }
  assert.equal(levels, 9);
});

Deno.test("serializeError() describes thrown values that are no Error", () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const cases: [unknown, string][] = [
    ["plain text", "plain text"],
    [null, "Non-error value thrown: null"],
    [undefined, "Non-error value thrown: undefined"],
    [42, "Non-error value thrown: 42"],
    [{ code: "E1" }, 'Non-error value thrown: {"code":"E1"}'],
    [Symbol("s"), "Non-error value thrown: Symbol(s)"],
    [5n, "Non-error value thrown: [object BigInt]"],
    [cyclic, "Non-error value thrown: [object Object]"],
  ];
  for (const [thrown, message] of cases) {
    assert.deepEqual(serializeError(thrown), { name: "Error", message });
  }
});

Deno.test("serializeError() caps very long texts and says how much was cut", () => {
  const error = new Error("m".repeat(MAX_ERROR_TEXT + 1000));
  error.stack = "s".repeat(MAX_ERROR_TEXT * 2);
  const stored = serializeError(error);
  assert.equal(
    stored.message,
    `${"m".repeat(MAX_ERROR_TEXT)}… [1000 more characters cut]`,
  );
  assert.equal(
    stored.stack,
    `${"s".repeat(MAX_ERROR_TEXT)}… [${MAX_ERROR_TEXT} more characters cut]`,
  );
  const exact = serializeError(new Error("e".repeat(MAX_ERROR_TEXT)));
  assert.equal(exact.message.length, MAX_ERROR_TEXT);
  const thrown = serializeError("t".repeat(MAX_ERROR_TEXT + 1));
  assert.ok(thrown.message.endsWith("… [1 more characters cut]"));
});

// deserializeError

Deno.test("deserializeError() round-trips name, message, stack, properties and cause", () => {
  const original = Object.assign(
    new Error("outer", { cause: new TypeError("inner") }),
    { code: "E_OUTER", details: { n: 1 } },
  );
  const error = deserializeError(serializeError(original));
  assert.ok(error instanceof Error);
  assert.equal(error.name, "Error");
  assert.equal(error.message, "outer");
  assert.equal(error.stack, original.stack);
  assert.equal((error as unknown as { code: string }).code, "E_OUTER");
  assert.deepEqual((error as unknown as { details: unknown }).details, {
    n: 1,
  });
  assert.ok(error.cause instanceof TypeError);
  assert.equal((error.cause as Error).message, "inner");
  assert.equal((error.cause as Error).stack, (original.cause as Error).stack);
  assert.deepEqual(Object.keys(error).sort(), ["code", "details"]);
});

Deno.test("deserializeError() brings built-in error classes back as themselves", () => {
  const classes = [
    TypeError,
    RangeError,
    SyntaxError,
    ReferenceError,
    EvalError,
    URIError,
    NotJsonError,
  ];
  for (const ErrorClass of classes) {
    const error = deserializeError(
      serializeError(new ErrorClass("m")),
    );
    assert.ok(error instanceof ErrorClass, ErrorClass.name);
    assert.equal(error.name, new ErrorClass("m").name);
    assert.equal(error.message, "m");
  }
  const notJson = deserializeError({ name: "NotJsonError", message: "m" });
  assert.ok(notJson instanceof NotJsonError && notJson instanceof TypeError);
  assert.equal(notJson.name, "NotJsonError");
});

Deno.test("deserializeError() brings the library's errors back as their class, with their fields", () => {
  const stored = serializeError(new StepTimeoutError("fetch", 50));
  const error = deserializeError(stored);
  assert.ok(error instanceof StepTimeoutError);
  assert.ok(error instanceof OpenWorkflowError);
  assert.equal(error.name, "StepTimeoutError");
  assert.equal(
    String(error),
    "StepTimeoutError: Step 'fetch' timed out after 50 ms",
  );
  assert.equal(error.timeoutMs, 50);
  assert.equal(error.stepName, "fetch");
});

Deno.test("deserializeError() makes other names plain Errors with that name", () => {
  const error = deserializeError({ name: "PaymentDeclined", message: "m" });
  assert.equal(Object.getPrototypeOf(error), Error.prototype);
  assert.equal(error.name, "PaymentDeclined");
  // Names of Object.prototype members are no classes.
  for (
    const name of ["toString", "constructor", "__proto__", "hasOwnProperty"]
  ) {
    const plain = deserializeError({ name, message: "m" });
    assert.equal(Object.getPrototypeOf(plain), Error.prototype, name);
    assert.equal(plain.name, name);
  }
});

Deno.test("deserializeError() leaves out the cause when none was stored", () => {
  const error = deserializeError({ name: "Error", message: "m" });
  assert.equal("cause" in error, false);
  assert.equal(
    Object.getOwnPropertyDescriptor(error, "name")?.enumerable,
    false,
  );
});

Deno.test("deserializeError() copes with stored values that are no error", () => {
  assert.equal(deserializeError(null).message, "Unknown error: null");
  assert.equal(deserializeError("boom").message, 'Unknown error: "boom"');
  assert.equal(deserializeError(7).message, "Unknown error: 7");
  assert.equal(deserializeError([1, 2]).message, "Unknown error: [1,2]");
  const partial = deserializeError({ name: 5, message: { a: 1 } });
  assert.equal(partial.name, "Error");
  assert.equal(partial.message, "");
});

Deno.test("encodeJson() rejects a boxed BigInt, as JSON.stringify does", () => {
  assert.throws(
    () => encodeJson({ n: Object(1n) }, "x"),
    (e) => e instanceof NotJsonError && /'n' is a bigint/.test(e.message),
  );
});

Deno.test("encodeJson() turns the holes of a sparse array into null in the value too", () => {
  // deno-lint-ignore no-sparse-arrays
  const { text, value } = encodeJson([1, , 3], "x");
  assert.equal(text, "[1,null,3]");
  assert.ok(1 in (value as unknown[]));
  assert.deepEqual(value, [1, null, 3]);
});

Deno.test("encodeJson() passes toJSON the key JSON.stringify passes", () => {
  const keys: string[] = [];
  const probe = {
    toJSON(key: string) {
      keys.push(key);
      return key;
    },
  };
  const value = { list: [probe], "a.b": probe, top: probe };
  JSON.stringify(value);
  const expected = keys.splice(0);
  encodeJson(value, "x");
  assert.deepEqual(keys, expected);
  assert.deepEqual(expected, ["0", "a.b", "top"]);
});

Deno.test("deserializeError() keeps a stored __proto__ key as a plain property", () => {
  const error = deserializeError(
    JSON.parse('{"name":"TypeError","message":"m","__proto__":{"x":1}}'),
  );
  assert.ok(error instanceof TypeError);
  assert.deepEqual(Object.getOwnPropertyDescriptor(error, "__proto__")?.value, {
    x: 1,
  });
});
