/**
 * Live pages: server-sent event streams that say when what a page shows
 * has changed. Each stream re-reads a fingerprint of its page (a run's
 * status and steps, or a page of runs) when the backend's notifications
 * say something happened (at most once per 250 ms), else on a fallback
 * poll, and pushes `event: change` only when the fingerprint moved; a
 * comment every 15 s keeps proxies from closing it. The stream ends when
 * the request's signal aborts or the client cancels it, with every timer
 * and subscription released.
 *
 * @module
 */

import type { Backend } from "../core/backend.ts";
import { isListening, onAvailable } from "../core/wakeups.ts";

/** A short digest of `text`, as a page's fingerprint (hex, 20 characters). */
export async function hashFingerprint(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return [...new Uint8Array(digest).slice(0, 10)]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** How long pushes are coalesced, in milliseconds. */
export const COALESCE_MS = 250;
/** How often a stream sends a comment, and reads while notifications are live. */
export const HEARTBEAT_MS = 15_000;

/**
 * One subscription to the backend's notifications (other processes) and
 * to this process's wake-ups, shared by every open stream; taken with the
 * first stream and given back with the last.
 */
export class NotificationFeed {
  readonly #backend: Backend;
  readonly #listeners = new Set<() => void>();
  #unsubscribe: (() => void) | null = null;

  constructor(backend: Backend) {
    this.#backend = backend;
  }

  /** Whether the backend's notifications are live. */
  get listening(): boolean {
    return isListening(this.#backend);
  }

  /** Calls `listener` on each notification until the returned function. */
  add(listener: () => void): () => void {
    this.#listeners.add(listener);
    if (this.#unsubscribe === null) {
      const emit = () => {
        for (const each of [...this.#listeners]) each();
      };
      const fromBackend = this.#backend.subscribe?.(emit) ?? (() => {});
      const fromProcess = onAvailable(this.#backend, emit);
      this.#unsubscribe = () => {
        fromBackend();
        fromProcess();
      };
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0 && this.#unsubscribe !== null) {
        this.#unsubscribe();
        this.#unsubscribe = null;
      }
    };
  }
}

/** What an event stream needs. */
export interface EventStreamOptions {
  /** The shared notifications. */
  feed: NotificationFeed;
  /** Reads the fingerprint of what the page shows. */
  probe: () => Promise<string>;
  /** The fingerprint the page was rendered with, if the client sent it. */
  since: string | null;
  /** The poll interval while notifications are not live. */
  pollIntervalMs: number;
  /** Extra response headers (security headers). */
  headers: Headers;
}

/**
 * A `text/event-stream` response that pushes `event: change` (its data the
 * new fingerprint) whenever the page's fingerprint changes.
 */
export function eventStream(
  request: Request,
  options: EventStreamOptions,
): Response {
  const encoder = new TextEncoder();
  let closed = false;
  let cleanUp = () => {};
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      let last = options.since;
      let probing = false;
      let again = false;
      let coalesce: ReturnType<typeof setTimeout> | undefined;
      let poll: ReturnType<typeof setTimeout> | undefined;
      // Set once the stream is open; cleared by close(), defined before it.
      // deno-lint-ignore prefer-const
      let heartbeat: ReturnType<typeof setInterval> | undefined;
      const send = (text: string) => {
        if (closed) return;
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          close();
        }
      };
      const check = async () => {
        if (closed) return;
        if (probing) {
          again = true;
          return;
        }
        probing = true;
        try {
          const fingerprint = await options.probe();
          if (!closed && fingerprint !== last) {
            const first = last === null;
            last = fingerprint;
            if (!first) send(`event: change\ndata: ${fingerprint}\n\n`);
          }
        } catch {
          // The backend failed: the next notification or poll tries again.
        } finally {
          probing = false;
        }
        if (again) {
          again = false;
          schedule();
        }
      };
      const schedule = () => {
        if (closed || coalesce !== undefined) return;
        coalesce = setTimeout(() => {
          coalesce = undefined;
          void check();
        }, COALESCE_MS);
      };
      const schedulePoll = () => {
        if (closed) return;
        poll = setTimeout(
          () => {
            void check().finally(schedulePoll);
          },
          options.feed.listening ? HEARTBEAT_MS : options.pollIntervalMs,
        );
      };
      const unsubscribe = options.feed.add(schedule);
      const close = () => {
        if (closed) return;
        closed = true;
        clearTimeout(coalesce);
        clearTimeout(poll);
        clearInterval(heartbeat);
        unsubscribe();
        request.signal.removeEventListener("abort", close);
        try {
          controller.close();
        } catch {
          // Already closed or canceled.
        }
      };
      cleanUp = close;
      if (request.signal.aborted) return close();
      request.signal.addEventListener("abort", close);
      send("retry: 2000\n: connected\n\n");
      heartbeat = setInterval(() => send(": heartbeat\n\n"), HEARTBEAT_MS);
      void check();
      schedulePoll();
    },
    cancel() {
      cleanUp();
    },
  });
  const headers = new Headers(options.headers);
  headers.set("content-type", "text/event-stream; charset=utf-8");
  headers.set("cache-control", "no-store");
  headers.set("x-accel-buffering", "no");
  return new Response(stream, { headers });
}
