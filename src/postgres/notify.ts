/**
 * LISTEN/NOTIFY: one listening connection per process (per database URL and
 * schema), shared by every `BackendPostgres` in it. Statements that make a
 * run claimable or finish it notify in the same statement; listeners wake
 * workers and `result()` callers. Polling stays as the fallback.
 *
 * @module
 */

import postgres from "./driver/index.js";
import type { Sql } from "./driver/index.js";
import type { BackendNotification } from "../backend.ts";
import { Dialer } from "./dial.ts";
import { reconnectBackoffS } from "./reconnect.ts";

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

interface Shared {
  sql: Sql;
  dialer: Dialer;
  subscribers: Map<Listener, string>;
  listening: boolean;
  ready: Promise<void>;
  references: number;
}

const shared = new Map<string, Shared>();

function broadcast(entry: Shared, payload: string | null): void {
  for (const [listener, namespaceId] of entry.subscribers) {
    if (payload === null) {
      listener({ kind: "listening", listening: entry.listening });
      continue;
    }
    const notification = decode(payload, namespaceId);
    if (notification !== null) listener(notification);
  }
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
      // `socket` is a documented option of postgres.js missing from its
      // types.
      const dialing = { socket: dialer.socket };
      const sql = postgres(url, {
        ...dialing,
        max: 1,
        onnotice: () => {},
        connect_timeout: 10,
        // LISTEN again within a second once the server is back.
        backoff: reconnectBackoffS,
        fetch_types: false,
        connection: { application_name: LISTENER_APPLICATION_NAME },
        onclose: () => {
          // The listening connection is gone until it reconnects: fall back
          // to polling at the normal interval meanwhile.
          if (created.listening) {
            created.listening = false;
            broadcast(created, null);
          }
        },
      });
      const created: Shared = {
        sql,
        dialer,
        subscribers: new Map(),
        listening: false,
        ready: Promise.resolve(),
        references: 0,
      };
      created.ready = sql.listen(
        channelOf(schema),
        (payload) => broadcast(created, payload),
        () => {
          // On every (re)connect: notifications may have been missed, so
          // every subscriber re-checks.
          created.listening = true;
          broadcast(created, null);
        },
      ).then(() => {}, () => {
        created.listening = false;
        broadcast(created, null);
      });
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
    if (this.#entry.listening) listener({ kind: "listening", listening: true });
    return () => this.#entry.subscribers.delete(listener);
  }

  /** Drops this reference; the last one closes the connection. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    if (--this.#entry.references > 0) return;
    shared.delete(this.#key);
    this.#entry.listening = false;
    broadcast(this.#entry, null);
    // A LISTEN waiting for a connection fails now instead of holding the
    // release for as long as the server hangs up.
    this.#entry.dialer.close();
    await this.#entry.ready;
    await this.#entry.sql.end({ timeout: 5 });
  }
}
