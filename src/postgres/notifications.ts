/**
 * LISTEN/NOTIFY: one listening connection per process (per database URL and
 * schema), shared by every `BackendPostgres` in it. Statements that make a
 * run claimable or finish it notify in the same statement; listeners wake
 * workers and `result()` callers. Polling stays as the fallback: while the
 * listening connection is down, or LISTEN fails on it, subscribers hear that
 * notifications are off, and LISTEN is issued again until it holds.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import postgres from "./driver/index.js";
import type { Sql } from "./driver/index.js";
import type { BackendNotification } from "../core/backend.ts";
import { delay } from "../core/waits.ts";
import { Dialer } from "./dial.ts";
import { reconnectBackoffS } from "./reconnect.ts";

const logger = getLogger(["openworkflow", "postgres"]);

/** The `application_name` of the listening connections. */
export const LISTENER_APPLICATION_NAME = "openworkflow-listener";

/** The NOTIFY channel of a schema. */
export function channelOf(schema: string): string {
  return `openworkflow_${schema}`.slice(0, 63);
}

/** Payload of a notification that runs are claimable (at `at`, epoch ms). */
export function availablePayload(namespaceId: string, at?: number): string {
  return JSON.stringify(
    at === undefined ? ["a", namespaceId] : ["a", namespaceId, at],
  );
}

/** Decodes a payload; `null` for one of another namespace or unknown. */
function decode(
  payload: string,
  namespaceId: string,
): BackendNotification | null {
  try {
    const value = JSON.parse(payload);
    if (!Array.isArray(value) || value[1] !== namespaceId) return null;
    if (value[0] === "a") {
      return typeof value[2] === "number"
        ? { kind: "available", availableAt: new Date(value[2]) }
        : { kind: "available", availableAt: null };
    }
    if (value[0] === "f" && typeof value[2] === "string") {
      const status = value[3];
      return status === "succeeded" || status === "failed" ||
          status === "canceled"
        ? {
          kind: "finished",
          workflowRunId: value[2],
          outcome: {
            status,
            output: value[4] ?? null,
            error: value[5] ?? null,
          },
        }
        : { kind: "finished", workflowRunId: value[2] };
    }
  } catch {
    // Not ours.
  }
  return null;
}

type Listener = (notification: BackendNotification) => void;

/**
 * Whether notifications are live: each statement that finishes runs (a
 * transition, the deadline sweep, a cancel and the children it cancels)
 * notifies them, so every finish is told while they are.
 */
function listeningNotification(listening: boolean): BackendNotification {
  return { kind: "listening", listening, finishes: true };
}

interface Shared {
  sql: Sql;
  dialer: Dialer;
  channel: string;
  subscribers: Map<Listener, string>;
  /** Whether LISTEN holds on the connection now open. */
  listening: boolean;
  /** How many times the listening connection closed. */
  drops: number;
  /** Whether {@linkcode keepListening} runs. */
  relistening: boolean;
  /** The last run of {@linkcode keepListening}. */
  relisten: Promise<void>;
  /** Resolves the promise of `ready`. */
  attempted: () => void;
  ready: Promise<void>;
  references: number;
  /** Aborted with the last reference. */
  released: AbortController;
}

const shared = new Map<string, Shared>();

/** How long a release waits for a LISTEN in flight before ending it. */
const LISTEN_SETTLE_TIMEOUT_MS = 5_000;

function broadcast(entry: Shared, payload: string | null): void {
  for (const [listener, namespaceId] of entry.subscribers) {
    if (payload === null) {
      listener(listeningNotification(entry.listening));
      continue;
    }
    const notification = decode(payload, namespaceId);
    if (notification !== null) listener(notification);
  }
}

/**
 * The listening connection closed: notifications are off until LISTEN
 * holds again, so subscribers poll at the normal interval meanwhile; and
 * LISTEN is issued again (the statement opens the connection again).
 */
function dropped(entry: Shared): void {
  entry.drops++;
  if (entry.released.signal.aborted) return;
  if (entry.listening) {
    entry.listening = false;
    logger.warn(
      "The listening connection on {channel} closed; polling until LISTEN holds again",
      { channel: entry.channel },
    );
    broadcast(entry, null);
  }
  if (!entry.relistening) entry.relisten = keepListening(entry);
}

/**
 * Issues LISTEN until it holds on a connection that stayed open meanwhile,
 * or the last reference is released; then tells subscribers that
 * notifications are live (and so to re-check what they may have missed).
 * A failed LISTEN is issued again after {@linkcode reconnectBackoffS}. The
 * driver spaces its reconnections the same way, counted from the close, so
 * that after a failed connection the two waits overlap rather than add up.
 */
async function keepListening(entry: Shared): Promise<void> {
  entry.relistening = true;
  const { sql, released } = entry;
  let failures = 0;
  while (!released.signal.aborted) {
    const drops = entry.drops;
    let listened = true;
    try {
      await sql`LISTEN ${sql(entry.channel)}`;
    } catch (error) {
      listened = false;
      failures++;
      logger.debug("LISTEN on {channel} failed (attempt {attempt}): {error}", {
        channel: entry.channel,
        attempt: failures,
        error,
      });
    }
    entry.attempted();
    if (released.signal.aborted) break;
    if (listened && entry.drops === drops) {
      entry.relistening = false;
      entry.listening = true;
      logger.debug("Listening on {channel}", { channel: entry.channel });
      broadcast(entry, null);
      return;
    }
    if (!listened) {
      await delay(reconnectBackoffS(failures) * 1000, released.signal);
    }
  }
  entry.relistening = false;
}

/**
 * A reference to the process's listening connection for `url` and
 * `schema`. Call `release()` once done; the connection closes with the last
 * reference.
 */
export class ListenerRef {
  readonly #key: string;
  readonly #entry: Shared;
  #released = false;

  constructor(url: string, schema: string) {
    this.#key = `${schema} ${url}`;
    let entry = shared.get(this.#key);
    if (entry === undefined) {
      // Spaces the attempts while the server hangs up before answering.
      const dialer = new Dialer();
      // LISTEN is issued here rather than with `sql.listen()`: that one
      // opens a connection of its own whose `onclose` replaces ours, so that
      // a drop goes unnoticed, and it gives up on a LISTEN the server
      // rejects after a reconnect (the connection staying open). `socket` is
      // a documented option of postgres.js, and `onnotify` the one
      // `sql.listen()` itself uses; both are missing from its types.
      const untyped = {
        socket: dialer.socket,
        onnotify: (channel: string, payload: string) => {
          if (channel === created.channel) broadcast(created, payload);
        },
      };
      const sql = postgres(url, {
        ...untyped,
        max: 1,
        onnotice: () => {},
        connect_timeout: 10,
        // Kept open for good, whatever PGIDLE_TIMEOUT and PGMAX_LIFETIME
        // say, as `sql.listen()` keeps its own.
        idle_timeout: 0,
        max_lifetime: null,
        // LISTEN again within a second once the server is back.
        backoff: reconnectBackoffS,
        fetch_types: false,
        connection: { application_name: LISTENER_APPLICATION_NAME },
        onclose: () => dropped(created),
      });
      let attempted = () => {};
      const ready = new Promise<void>((resolve) => attempted = resolve);
      const created: Shared = {
        sql,
        dialer,
        channel: channelOf(schema),
        subscribers: new Map(),
        listening: false,
        drops: 0,
        relistening: false,
        relisten: Promise.resolve(),
        attempted,
        ready,
        references: 0,
        released: new AbortController(),
      };
      created.relisten = keepListening(created);
      entry = created;
      shared.set(this.#key, entry);
    }
    entry.references++;
    this.#entry = entry;
  }

  /** Resolves once the first LISTEN was attempted. */
  get ready(): Promise<void> {
    return this.#entry.ready;
  }

  /** Registers `listener` for notifications of `namespaceId`. */
  subscribe(namespaceId: string, listener: Listener): () => void {
    this.#entry.subscribers.set(listener, namespaceId);
    if (this.#entry.listening) listener(listeningNotification(true));
    return () => this.#entry.subscribers.delete(listener);
  }

  /** Drops this reference; the last one closes the connection. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const entry = this.#entry;
    if (--entry.references > 0) return;
    shared.delete(this.#key);
    entry.released.abort();
    entry.listening = false;
    broadcast(entry, null);
    // A LISTEN waiting for a connection fails now instead of holding the
    // release for as long as the server hangs up. Waiting for it to settle
    // before ending leaves no socket being opened, nor a reconnection timer,
    // behind: ending cancels neither.
    entry.dialer.close();
    const waited = new AbortController();
    await Promise.race([
      entry.relisten,
      delay(LISTEN_SETTLE_TIMEOUT_MS, waited.signal),
    ]);
    waited.abort();
    // Nothing to finish on this connection: a LISTEN still in flight (the
    // server stopped answering) fails.
    await entry.sql.end({ timeout: 0 });
    await entry.relisten;
  }
}
