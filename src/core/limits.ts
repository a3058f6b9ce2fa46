/**
 * Size limits on stored values.
 *
 * @module
 */

import { PayloadTooLargeError } from "./errors.ts";

/**
 * The largest JSON text stored for one input, output or step result, by
 * default: 16 MiB. Larger values fail with `PayloadTooLargeError`; keep big
 * data in object storage and pass references.
 *
 * @example A client that stores at most a quarter of the default per value
 * ```ts
 * import { DEFAULT_MAX_PAYLOAD_BYTES, OpenWorkflow } from "@openworkflow/core";
 * import { BackendSqlite } from "@openworkflow/core/sqlite";
 *
 * await using backend = await BackendSqlite.connect(":memory:");
 * const ow = new OpenWorkflow({
 *   backend,
 *   maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES / 4,
 * });
 * console.log(DEFAULT_MAX_PAYLOAD_BYTES / 4 / 1024 / 1024); // 4 (MiB)
 * ```
 */
export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

const encoder = new TextEncoder();

/**
 * Throws `PayloadTooLargeError` when `text` (UTF-8) is over `limitBytes`.
 */
export function checkPayloadSize(
  text: string,
  subject: string,
  limitBytes: number,
): void {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: most texts need no count.
  if (text.length * 3 <= limitBytes) return;
  const sizeBytes = text.length > limitBytes
    ? text.length
    : encoder.encode(text).length;
  if (sizeBytes > limitBytes) {
    throw new PayloadTooLargeError(subject, sizeBytes, limitBytes);
  }
}
