/**
 * Live updates: the run page's and the runs list's server-sent event
 * streams push `event: change` when a run changes, also when another
 * process (another backend object) changed it; they end, with every timer
 * and subscription released, when the request's signal aborts.
 */

import assert from "node:assert/strict";
import { type Backend, OpenWorkflow } from "../../mod.ts";
import { createDashboard } from "../../dashboard.ts";
import { testEachBackend } from "../helpers.ts";
import { makeRuns, ORIGIN, TOKEN } from "./support.ts";

/** Reads an event stream's text until `pattern` shows, or `timeoutMs`. */
async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  pattern: RegExp,
  timeoutMs: number,
): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no ${pattern} within ${timeoutMs} ms: ${text}`)),
      timeoutMs,
    );
  });
  try {
    while (!pattern.test(text)) {
      const { done, value } = await Promise.race([reader.read(), timeout]);
      if (done) throw new Error(`the stream ended: ${text}`);
      text += decoder.decode(value, { stream: true });
    }
    return text;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The real backend, keeping the calls made through it, so that a test can
 * wait for those still in flight (a stream's first read may still be on
 * its way when the stream ends).
 */
function tracked(
  backend: Backend,
): { backend: Backend; settled(): Promise<void> } {
  const calls = new Set<Promise<unknown>>();
  const wrapped = new Proxy(backend, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(
          target,
          args,
        );
        if (result instanceof Promise) {
          calls.add(result);
          const forget = () => calls.delete(result);
          result.then(forget, forget);
        }
        return result;
      };
    },
  });
  return {
    backend: wrapped,
    async settled() {
      while (calls.size > 0) await Promise.allSettled([...calls]);
    },
  };
}

function open(
  dashboard: (request: Request) => Promise<Response>,
  path: string,
  signal: AbortSignal,
): Promise<Response> {
  return dashboard(
    new Request(`${ORIGIN}${path}`, {
      headers: {
        authorization: `Bearer ${TOKEN}`,
        accept: "text/event-stream",
      },
      signal,
    }),
  );
}

testEachBackend(
  "events: a run canceled by another process pushes a change on the run's stream within seconds",
  async ({ backend, store, namespaceId }) => {
    const runs = await makeRuns(backend);
    const dashboard = createDashboard({ backend, token: TOKEN });
    const abort = new AbortController();
    const response = await open(
      dashboard,
      `/runs/${runs.sleeping}/events`,
      abort.signal,
    );
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/event-stream; charset=utf-8",
    );
    assert.ok(response.headers.get("content-security-policy") !== null);
    const reader = response.body!.getReader();
    try {
      await readUntil(reader, /: connected/, 2_000);
      // Give the stream its first read, then cancel from elsewhere.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const elsewhere = await store.connect(namespaceId);
      const startedAt = Date.now();
      await new OpenWorkflow({ backend: elsewhere }).cancelRun(runs.sleeping);
      const text = await readUntil(
        reader,
        /event: change\ndata: \w+\n\n/,
        5_000,
      );
      assert.match(text, /event: change/);
      assert.ok(Date.now() - startedAt < 5_000);
    } finally {
      abort.abort();
      await reader.cancel().catch(() => {});
    }
  },
);

testEachBackend(
  "events: a stale fingerprint gets a change at once; the runs list's stream pushes when a run is created",
  async ({ backend }) => {
    const runs = await makeRuns(backend);
    const dashboard = createDashboard({ backend, token: TOKEN });
    const abort = new AbortController();
    const stale = await open(
      dashboard,
      `/runs/${runs.succeeded}/events?v=stale`,
      abort.signal,
    );
    const staleReader = stale.body!.getReader();
    const list = await open(dashboard, "/events", abort.signal);
    const listReader = list.body!.getReader();
    try {
      await readUntil(staleReader, /event: change/, 3_000);
      await readUntil(listReader, /: connected/, 2_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await new OpenWorkflow({ backend }).defineWorkflow(
        { name: "fresh" },
        () => null,
      ).run();
      await readUntil(listReader, /event: change/, 8_000);
    } finally {
      abort.abort();
      await staleReader.cancel().catch(() => {});
      await listReader.cancel().catch(() => {});
    }
  },
);

testEachBackend(
  "events: a stream ends when its request's signal aborts",
  async ({ backend }) => {
    const runs = await makeRuns(backend);
    const calls = tracked(backend);
    const dashboard = createDashboard({ backend: calls.backend, token: TOKEN });
    const abort = new AbortController();
    const response = await open(
      dashboard,
      `/runs/${runs.sleeping}/events`,
      abort.signal,
    );
    const reader = response.body!.getReader();
    await readUntil(reader, /: connected/, 2_000);
    abort.abort();
    const { done } = await reader.read();
    assert.equal(done, true);
    // The stream's first read may still be on its way: it ends on its own.
    await calls.settled();
  },
);
