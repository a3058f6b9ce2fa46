/**
 * A TCP proxy in front of Postgres that a test can break on purpose: cut
 * every connection, refuse new ones for a while, swallow the server's
 * answers, or kill a connection when the client sends certain bytes. It
 * makes "the database went away" reproducible without touching the shared
 * server.
 */

import { DATABASE_URL } from "../helpers.ts";

interface Pair {
  client: Deno.Conn;
  server: Deno.Conn | null;
  closed: boolean;
}

/** Options of {@linkcode TcpProxy.start}. */
export interface TcpProxyOptions {
  /**
   * Called with every chunk the client sends. Returning `"kill"` closes
   * that connection (both sides) instead of forwarding the chunk;
   * returning bytes sends them to the client first, then closes; returning
   * `{ reply }` sends `reply` to the client instead of forwarding the chunk,
   * and keeps the connection (the server never sees the chunk).
   */
  onClientData?: (
    chunk: Uint8Array,
  ) => "kill" | Uint8Array | { reply: Uint8Array } | undefined;
}

/** A breakable TCP proxy to the Postgres of `DATABASE_URL`. */
export class TcpProxy {
  /** While `true`, new connections are closed as soon as accepted. */
  down = false;
  /**
   * While `true`, new connections are answered as a server in crash
   * recovery answers them (FATAL 57P03, "the database system is starting
   * up"), then closed.
   */
  startingUp = false;
  /** While `true`, the server's bytes are dropped instead of forwarded. */
  swallowResponses = false;
  /** How many connections were accepted. */
  accepted = 0;
  #listener: Deno.Listener;
  readonly #port: number;
  readonly #target: { hostname: string; port: number };
  readonly #pairs = new Set<Pair>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #options: TcpProxyOptions;
  #accepting: Promise<void>;

  private constructor(
    listener: Deno.Listener,
    target: { hostname: string; port: number },
    options: TcpProxyOptions,
  ) {
    this.#listener = listener;
    this.#port = (listener.addr as Deno.NetAddr).port;
    this.#target = target;
    this.#options = options;
    this.#accepting = this.#accept();
  }

  /** Starts a proxy on a free local port. */
  static start(options: TcpProxyOptions = {}): TcpProxy {
    const url = new URL(DATABASE_URL);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return new TcpProxy(listener, {
      hostname: url.hostname,
      port: Number(url.port || 5432),
    }, options);
  }

  /** `DATABASE_URL`, pointed at the proxy. */
  get url(): string {
    const url = new URL(DATABASE_URL);
    url.hostname = "127.0.0.1";
    url.port = String(this.#port);
    return url.toString();
  }

  /** Closes every open connection, both sides, at once. */
  cut(): void {
    for (const pair of this.#pairs) this.#closePair(pair);
  }

  /**
   * Cuts every connection, then for `ms` either hangs up on new ones as
   * soon as they are accepted (`"hang-up"`), or refuses them: nothing
   * listens on the port (`"refuse"`, as while a server restarts).
   */
  async outage(
    ms: number,
    mode: "hang-up" | "refuse" = "hang-up",
  ): Promise<void> {
    if (mode === "refuse") {
      this.#listener.close();
      await this.#accepting;
    } else {
      this.down = true;
    }
    this.cut();
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (mode === "refuse") {
      this.#listener = Deno.listen({ hostname: "127.0.0.1", port: this.#port });
      this.#accepting = this.#accept();
    }
    this.down = false;
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.#listener.close();
    this.cut();
    await this.#accepting;
    await Promise.all(this.#tasks);
  }

  async #accept(): Promise<void> {
    const listener = this.#listener;
    while (true) {
      let client: Deno.Conn;
      try {
        client = await listener.accept();
      } catch {
        return; // closed
      }
      this.accepted++;
      if (this.down) {
        client.close();
        continue;
      }
      if (this.startingUp) {
        this.#track(refuseStartup(client));
        continue;
      }
      const pair: Pair = { client, server: null, closed: false };
      this.#pairs.add(pair);
      this.#track(this.#serve(pair));
    }
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  async #serve(pair: Pair): Promise<void> {
    try {
      pair.server = await Deno.connect(this.#target);
    } catch {
      this.#closePair(pair);
      return;
    }
    if (pair.closed) {
      pair.server.close();
      return;
    }
    await Promise.all([
      this.#pump(pair, pair.client, pair.server, "up"),
      this.#pump(pair, pair.server, pair.client, "down"),
    ]);
  }

  async #pump(
    pair: Pair,
    from: Deno.Conn,
    to: Deno.Conn,
    direction: "up" | "down",
  ): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (!pair.closed) {
        const n = await from.read(buffer);
        if (n === null) break;
        const chunk = buffer.slice(0, n);
        const verdict = direction === "up"
          ? this.#options.onClientData?.(chunk)
          : undefined;
        if (typeof verdict === "object" && !(verdict instanceof Uint8Array)) {
          await writeAll(pair.client, verdict.reply);
          continue;
        }
        if (verdict instanceof Uint8Array) await pair.client.write(verdict);
        if (verdict !== undefined) break;
        if (direction === "down" && this.swallowResponses) continue;
        await writeAll(to, chunk);
      }
    } catch {
      // A side closed; close the other.
    } finally {
      this.#closePair(pair);
    }
  }

  #closePair(pair: Pair): void {
    if (pair.closed) return;
    pair.closed = true;
    this.#pairs.delete(pair);
    for (const conn of [pair.client, pair.server]) {
      try {
        conn?.close();
      } catch {
        // Already closed.
      }
    }
  }
}

async function writeAll(to: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await to.write(bytes.subarray(written));
  }
}

async function refuseStartup(client: Deno.Conn): Promise<void> {
  try {
    await client.read(new Uint8Array(1024)); // the startup message
    await client.write(
      errorMessage("57P03", "the database system is starting up"),
    );
  } catch {
    // The client went away first.
  } finally {
    try {
      client.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * The message Postgres sends a client whose session `pg_terminate_backend()`
 * ends (FATAL 57P01), before it closes the connection.
 */
export function terminationMessage(): Uint8Array {
  return errorMessage(
    "57P01",
    "terminating connection due to administrator command",
  );
}

/**
 * What Postgres answers a statement it rejects (an ERROR, then ready for
 * the next query), e.g. a LISTEN on a standby: code 25006, "cannot execute
 * LISTEN during recovery".
 */
export function statementErrorMessage(
  code: string,
  message: string,
): Uint8Array {
  const readyForQuery = [0x5a, 0, 0, 0, 5, 0x49]; // "Z", length 5, idle
  return new Uint8Array([
    ...errorMessage(code, message, "ERROR"),
    ...readyForQuery,
  ]);
}

/** An ErrorResponse of the Postgres protocol, FATAL unless told. */
function errorMessage(
  code: string,
  message: string,
  severity = "FATAL",
): Uint8Array {
  const text = new TextEncoder();
  const fields = [
    ["S", severity],
    ["V", severity],
    ["C", code],
    ["M", message],
  ].flatMap(([code, value]) => [...text.encode(code + value), 0]);
  const body = [...fields, 0];
  const length = body.length + 4;
  return new Uint8Array([
    "E".charCodeAt(0),
    (length >>> 24) & 0xff,
    (length >>> 16) & 0xff,
    (length >>> 8) & 0xff,
    length & 0xff,
    ...body,
  ]);
}
