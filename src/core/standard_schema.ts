/**
 * The Standard Schema interface (standardschema.dev, version 1), which Zod,
 * Valibot, ArkType and others implement: what `step.waitForSignal()`
 * validates a signal's data with. The spec asks libraries to copy these
 * types rather than depend on a package; they match
 * `@standard-schema/spec` 1.1.0 (MIT, Colin McDonnell and contributors),
 * flattened out of its namespace.
 *
 * @module
 */

/** A schema that implements Standard Schema version 1. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  /** The Standard Schema properties. */
  readonly "~standard": StandardSchemaProps<Input, Output>;
}

/** The properties of a Standard Schema. */
export interface StandardSchemaProps<Input = unknown, Output = Input> {
  /** The version number of the standard. */
  readonly version: 1;
  /** The vendor name of the schema library. */
  readonly vendor: string;
  /** Validates unknown input values. */
  readonly validate: (
    value: unknown,
    options?: { readonly libraryOptions?: Record<string, unknown> },
  ) => StandardSchemaResult<Output> | Promise<StandardSchemaResult<Output>>;
  /**
   * Inferred types associated with the schema.
   * @default {undefined}
   */
  readonly types?: {
    /** The input type of the schema. */
    readonly input: Input;
    /** The output type of the schema. */
    readonly output: Output;
  };
}

/** What a Standard Schema's `validate` returns. */
export type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<StandardSchemaIssue> };

/** One problem a Standard Schema found. */
export interface StandardSchemaIssue {
  /** The error message of the issue. */
  readonly message: string;
  /**
   * The path of the issue, if any.
   * @default {undefined}
   */
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>;
}
