// deno-lint-ignore-file explicit-module-boundary-types -- plain JavaScript for Node, without type annotations
// What the benchmark's peer scripts (bench/openworkflow/baseline.mjs,
// bench/dbos/baseline.mjs) share: logging to stderr, the one JSON line on
// stdout, percentiles, and the run of their main function under a
// watchdog. Plain Node (>= 20).

import process from "node:process";

/** A logger writing `[tag] message` lines to stderr. */
export function logger(tag) {
  return (message) => process.stderr.write(`[${tag}] ${message}\n`);
}

/** Prints a workload's result: exactly one JSON line on stdout. */
export function emit(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** The p-th percentile (nearest rank) of sorted values, or null. */
export function percentile(sortedValues, p) {
  if (sortedValues.length === 0) return null;
  const rank = Math.ceil((p / 100) * sortedValues.length) - 1;
  return sortedValues[Math.min(sortedValues.length - 1, Math.max(0, rank))];
}

/** `value` rounded to `digits` decimals. */
export function round(value, digits = 2) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Resolves after `ms`. */
export function sleep(ms) {
  return new Promise((done) => setTimeout(done, ms));
}

/**
 * Runs `main`, exiting 1 with its error logged when it fails, and 2 when
 * it takes more than 10 minutes: a stuck engine never hangs the caller.
 */
export function runMain(main, log) {
  const watchdog = setTimeout(() => {
    log("timed out after 10 minutes");
    process.exit(2);
  }, 10 * 60 * 1000);
  watchdog.unref();
  main().then(
    () => clearTimeout(watchdog),
    (error) => {
      log(error?.stack ?? String(error));
      process.exit(1);
    },
  );
}
