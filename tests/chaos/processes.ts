/**
 * Chaos worker processes: spawning `tests/chaos/worker.ts` with `deno run`,
 * reading what it reports, signalling it, and awaiting its exit.
 */

/** The repository root, where `deno.json` is. */
export const REPO_ROOT: string = new URL("../../", import.meta.url).pathname;
const WORKER_SCRIPT = new URL("./worker.ts", import.meta.url).pathname;

/** How a chaos worker process is started. */
export interface WorkerProcessOptions {
  backend: "postgres" | "sqlite";
  engineUrl: string;
  effectsUrl: string;
  namespaceId: string;
  workerId: string;
  leaseMs: number;
  pollMs: number;
  concurrency: number;
  /** Shifts the process's `Date.now()`. */
  skewMs?: number;
}

/** How a worker process ended. */
export interface WorkerExit {
  code: number;
  signal: Deno.Signal | null;
  /** Whether it reported `ready` before it ended. */
  wasReady: boolean;
  /** The `stopped` report of a graceful stop, if any. */
  stopped: {
    activeCount: number;
    stopMs: number;
    /** Runs still held after the stop, with what happened to them here. */
    held: { id: string; events: string[] }[];
  } | null;
  /** The end of its stderr, for diagnostics. */
  stderrTail: string;
}

/** A running chaos worker process. */
export class WorkerProcess {
  readonly workerId: string;
  readonly #child: Deno.ChildProcess;
  readonly #ready = Promise.withResolvers<boolean>();
  readonly exited: Promise<WorkerExit>;
  #isReady = false;
  #stopped: WorkerExit["stopped"] = null;
  #stderrTail = "";

  constructor(options: WorkerProcessOptions) {
    this.workerId = options.workerId;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--config",
        `${REPO_ROOT}deno.json`,
        WORKER_SCRIPT,
        // `--name=value`: a negative skew must not read as an option.
        ...Object.entries({
          backend: options.backend,
          "engine-url": options.engineUrl,
          "effects-url": options.effectsUrl,
          namespace: options.namespaceId,
          "worker-id": options.workerId,
          "lease-ms": options.leaseMs,
          "poll-ms": options.pollMs,
          concurrency: options.concurrency,
          "skew-ms": options.skewMs ?? 0,
        }).map(([name, value]) => `--${name}=${value}`),
      ],
      cwd: REPO_ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    const stdout = this.#readLines(child.stdout, (line) => {
      let message: {
        event?: string;
        activeCount?: number;
        stopMs?: number;
        held?: { id: string; events: string[] }[];
      };
      try {
        message = JSON.parse(line);
      } catch {
        return;
      }
      if (message.event === "ready") {
        this.#isReady = true;
        this.#ready.resolve(true);
      } else if (message.event === "stopped") {
        this.#stopped = {
          activeCount: message.activeCount ?? -1,
          stopMs: message.stopMs ?? -1,
          held: message.held ?? [],
        };
      }
    });
    const stderr = this.#readLines(child.stderr, (line) => {
      // deno-lint-ignore no-control-regex
      const plain = line.replace(/\x1b\[[0-9;]*m/g, "");
      this.#stderrTail = (this.#stderrTail + plain + "\n").slice(-4000);
    });
    this.exited = (async () => {
      const status = await child.status;
      await Promise.all([stdout, stderr]);
      this.#ready.resolve(false);
      return {
        code: status.code,
        signal: status.signal,
        wasReady: this.#isReady,
        stopped: this.#stopped,
        stderrTail: this.#stderrTail,
      };
    })();
  }

  /** Whether the process reported `ready` (and may hold runs). */
  get isReady(): boolean {
    return this.#isReady;
  }

  /** Resolves `true` once ready, `false` if it exits first. */
  get ready(): Promise<boolean> {
    return this.#ready.promise;
  }

  /** Sends `signal`; harmless once the process has exited. */
  kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already exited.
    }
  }

  async #readLines(
    stream: ReadableStream<Uint8Array>,
    onLine: (line: string) => void,
  ): Promise<void> {
    let buffered = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        onLine(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
      }
    }
    if (buffered !== "") onLine(buffered);
  }
}
