/**
 * Opening the driver's connections, with a backoff after hang-ups.
 *
 * postgres.js opens a connection again at once, and again for as long as a
 * query waits for it, when the server closes it while it connects: its
 * `backoff` applies only to connections that were established. A server
 * that accepts connections and closes them before answering (a proxy,
 * pgbouncer or port-forward whose database is down) then gets several
 * hundred connections a second. A {@linkcode Dialer} opens the sockets
 * instead (the driver's `socket` option) and waits, growing waits, before
 * each one after such hang-ups.
 *
 * @module
 */

import { connect, type Socket } from "node:net";
import { type Backoff, backoffMs } from "../core/backoff.ts";
import { delay } from "../core/waits.ts";

/**
 * The wait before a connection attempt after hang-ups in a row: 50 ms,
 * doubling up to 2 s, each spread by half either way, so that many clients
 * do not come back in step.
 */
export const HANG_UP_BACKOFF: Backoff = {
  initialMs: 50,
  maxMs: 2_000,
  jitter: 0.5,
};

/**
 * How long to wait before a connection attempt after `hangUps` hang-ups in
 * a row: nothing before the first, then {@linkcode HANG_UP_BACKOFF}.
 */
export function hangUpWaitMs(hangUps: number, random = Math.random()): number {
  return hangUps <= 0 ? 0 : backoffMs(hangUps - 1, HANG_UP_BACKOFF, random);
}

/** The parsed options postgres.js passes its `socket` option. */
export interface DialOptions {
  host: string[];
  port: number[];
  path: string | false | undefined;
}

/** An error shaped like the driver's own connection errors. */
function connectionError(code: string, address: string): Error {
  return Object.assign(new Error(`write ${code} ${address}`), {
    code,
    errno: code,
    address,
  });
}

/**
 * Opens the sockets of one postgres.js instance (pass `dialer.socket` as its
 * `socket` option). Hang-ups in a row are counted across the instance's
 * connections; the first byte from the server resets the count.
 */
export class Dialer {
  #hangUps = 0;
  #lastHangUp = "";
  #next = 0;
  readonly #closing = new AbortController();

  /** The `socket` option of `postgres()`. */
  readonly socket = (options: DialOptions): Promise<Socket> =>
    this.#dial(options);

  /** How many connections in a row the server closed before answering. */
  get hangUps(): number {
    return this.#hangUps;
  }

  /** The address of the last connection closed before an answer. */
  get lastHangUp(): string {
    return this.#lastHangUp;
  }

  /**
   * Stops opening connections: a wait in progress, and any later attempt,
   * fails (rejecting the query that waits for it). The driver keeps such a
   * connection as connecting for good, so call it only once the instance
   * was ended, or to give up on it.
   */
  close(): void {
    this.#closing.abort();
  }

  async #dial(options: DialOptions): Promise<Socket> {
    const i = this.#next++ % options.host.length;
    const host = options.host[i];
    const port = options.port[i] ?? options.port[0];
    const address = options.path || `${host}:${port}`;
    const signal = this.#closing.signal;
    const ended = () => connectionError("CONNECTION_ENDED", address);
    const waitMs = hangUpWaitMs(this.#hangUps);
    if (waitMs > 0) await delay(waitMs, signal);
    if (signal.aborted) throw ended();
    // Handed over while it connects, as the driver does with its own
    // sockets: its connect timeout and its handling of a failed or closed
    // socket apply unchanged. (Failing the dial itself instead would leave
    // the driver's connection stuck as connecting: only the close of a
    // socket frees it.)
    const socket = options.path
      ? connect({ path: options.path })
      : connect({ host, port });
    let accepted = false;
    let answered = false;
    socket.once("connect", () => accepted = true);
    socket.once("data", () => {
      answered = true;
      this.#hangUps = 0;
    });
    socket.once("close", () => {
      if (!accepted || answered) return;
      this.#hangUps++;
      this.#lastHangUp = address;
    });
    // The driver names the server in its errors and TLS checks by these,
    // as on the sockets it opens itself.
    return options.path ? socket : Object.assign(socket, { host, port });
  }
}
