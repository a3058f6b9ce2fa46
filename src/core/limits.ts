/**
 * Size limits on stored values.
 *
 * @module
 */

import { PayloadTooLargeError } from "./errors.ts";

/**
 * The largest JSON text stored for one input, output or step result, by
 * default: 16 MiB. Larger values fail with `PayloadTooLargeError`; keep big
 * data in object storage and pass references. The default of the
 * `maxPayloadBytes` options of `OpenWorkflow` and `Worker`.
 */
export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

const encoder = new TextEncoder();

/** Throws `PayloadTooLargeError` when `text` (UTF-8) is over `limitBytes`. */
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
