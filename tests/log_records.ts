/** Captures the library's LogTape records for a test. */

import { configure, type LogRecord, reset } from "@logtape/logtape";

/**
 * Collects the LogTape records of `category` (every level) while `fn`
 * runs, then resets LogTape.
 */
export async function withLogRecords(
  fn: (records: LogRecord[]) => Promise<void>,
  category: string[] = ["openworkflow"],
): Promise<void> {
  const records: LogRecord[] = [];
  await configure({
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      { category, lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  try {
    await fn(records);
  } finally {
    await reset();
  }
}
