/**
 * The CLI's `node:http` adapter for web-standard handlers: requests and
 * responses carried over whole (method, headers, cookies, body), streamed
 * bodies flushed as they come, a client that leaves aborting its request's
 * signal, and `close()` ending open streams.
 */

import assert from "node:assert/strict";
import { serve } from "../../src/cli/serve.ts";

Deno.test("serve() carries the request and the response over node:http", async () => {
  const served = await serve(async (request) => {
    const url = new URL(request.url);
    return new Response(
      JSON.stringify({
        method: request.method,
        path: url.pathname + url.search,
        host: url.host,
        header: request.headers.get("x-thing"),
        body: await request.text(),
      }),
      {
        status: 201,
        headers: [
          ["content-type", "application/json"],
          ["set-cookie", "a=1; HttpOnly"],
          ["set-cookie", "b=2; SameSite=Strict"],
        ],
      },
    );
  }, { port: 0, hostname: "127.0.0.1" });
  try {
    assert.match(served.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const response = await fetch(`${served.url}runs?status=failed`, {
      method: "POST",
      headers: { "x-thing": "yes" },
      body: "a=b",
    });
    assert.equal(response.status, 201);
    assert.deepEqual(response.headers.getSetCookie(), [
      "a=1; HttpOnly",
      "b=2; SameSite=Strict",
    ]);
    assert.deepEqual(await response.json(), {
      method: "POST",
      path: "/runs?status=failed",
      host: `127.0.0.1:${served.port}`,
      header: "yes",
      body: "a=b",
    });
    const big = await fetch(served.url, {
      method: "POST",
      body: new Uint8Array(2 * 1024 * 1024),
    });
    assert.equal(big.status, 413);
    await big.body?.cancel();
  } finally {
    await served.close();
  }
});

Deno.test("serve() streams a body as it is written; a client that leaves aborts the request's signal", async () => {
  let aborted!: () => void;
  const leftEarly = new Promise<void>((resolve) => aborted = resolve);
  const encoder = new TextEncoder();
  const served = await serve((request) => {
    let timer: ReturnType<typeof setInterval> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode("data: first\n\n"));
        timer = setInterval(
          () => controller.enqueue(encoder.encode(": ping\n\n")),
          50,
        );
        request.signal.addEventListener("abort", () => {
          clearInterval(timer);
          aborted();
        });
      },
      cancel() {
        clearInterval(timer);
      },
    });
    return Promise.resolve(
      new Response(body, {
        headers: { "content-type": "text/event-stream" },
      }),
    );
  }, { port: 0, hostname: "127.0.0.1" });
  try {
    const controller = new AbortController();
    const response = await fetch(served.url, { signal: controller.signal });
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    assert.equal(new TextDecoder().decode(value), "data: first\n\n");
    controller.abort();
    await reader.cancel().catch(() => {});
    await leftEarly;
  } finally {
    await served.close();
  }
});

Deno.test("serve().close() ends the streams still open", async () => {
  const served = await serve(
    (request) =>
      Promise.resolve(
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode("data: x\n\n"));
              request.signal.addEventListener("abort", () => {
                try {
                  controller.close();
                } catch { /* already canceled */ }
              });
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        ),
      ),
    { port: 0, hostname: "127.0.0.1" },
  );
  const response = await fetch(served.url);
  const reader = response.body!.getReader();
  await reader.read();
  await served.close();
  // The stream ends (or the connection drops) instead of hanging.
  try {
    while (!(await reader.read()).done) { /* drain */ }
  } catch { /* the connection was ended */ }
});

Deno.test("serve() rejects when the port is taken", async () => {
  const first = await serve(() => Promise.resolve(new Response("x")), {
    port: 0,
    hostname: "127.0.0.1",
  });
  try {
    await assert.rejects(
      serve(() => Promise.resolve(new Response("y")), {
        port: first.port,
        hostname: "127.0.0.1",
      }),
      (error: Error & { code?: string }) => error.code === "EADDRINUSE",
    );
  } finally {
    await first.close();
  }
});
