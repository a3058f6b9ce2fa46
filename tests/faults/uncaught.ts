/**
 * Records the errors that nothing caught: thrown from a timer, an immediate
 * or an event handler, where they would otherwise end the process.
 */

/** What {@linkcode catchUncaught} recorded, and how to stop recording. */
export interface UncaughtErrors {
  /** The errors, in order. */
  errors: unknown[];
  /** Stops recording; later errors end the process again. */
  stop(): void;
}

/** Starts recording the errors nothing caught. */
export function catchUncaught(): UncaughtErrors {
  const errors: unknown[] = [];
  const listener = (event: ErrorEvent) => {
    event.preventDefault();
    errors.push(event.error);
  };
  globalThis.addEventListener("error", listener);
  return {
    errors,
    stop: () => globalThis.removeEventListener("error", listener),
  };
}
