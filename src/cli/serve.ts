/**
 * Serves a web-standard handler (`(request: Request) => Promise<Response>`)
 * over `node:http`, which Deno, Node and Bun all have: the CLI's
 * `dashboard` command runs on each of them. Responses stream (server-sent
 * events included); a client that goes away aborts its request's `signal`;
 * `close()` stops listening, aborts the requests in flight, and ends every
 * connection.
 *
 * @module
 */

import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { Socket } from "node:net";

/** A web-standard request handler. */
export type FetchHandler = (request: Request) => Promise<Response>;

/** Where {@linkcode serve} listens. */
export interface ServeOptions {
  /** The port; 0 picks a free one. */
  port: number;
  /** The address to listen on, e.g. `"127.0.0.1"`. */
  hostname: string;
  /**
   * The largest request body read, in bytes; a larger one is answered 413.
   * @default {1048576}
   */
  maxBodyBytes?: number;
}

/** A listening server. */
export interface Served {
  /** The URL it listens on, e.g. `http://127.0.0.1:8080/`. */
  url: string;
  /** The port it listens on (the one picked, for port 0). */
  port: number;
  /** Stops listening, aborts the requests in flight, ends connections. */
  close(): Promise<void>;
}

/** The default of {@linkcode ServeOptions.maxBodyBytes}. */
const MAX_BODY_BYTES = 1024 * 1024;

/** A request body over the limit. */
class BodyTooLarge extends Error {
  override name = "BodyTooLarge" as const;
}

/** The host part of a URL for `hostname` (IPv6 in brackets). */
export function urlHost(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/** Reads a request body, up to `limit` bytes. */
async function readBody(
  request: IncomingMessage,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) throw new BodyTooLarge();
    chunks.push(chunk);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** The web `Request` for a `node:http` request. */
async function toRequest(
  incoming: IncomingMessage,
  base: string,
  signal: AbortSignal,
  maxBodyBytes: number,
): Promise<Request> {
  const headers = new Headers();
  const raw = incoming.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    headers.append(raw[i], raw[i + 1]);
  }
  const host = headers.get("host");
  const url = new URL(
    incoming.url ?? "/",
    host === null ? base : `http://${host}`,
  );
  const method = incoming.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(url, {
    method,
    headers,
    body: hasBody ? await readBody(incoming, maxBodyBytes) : undefined,
    signal,
  });
}

/** Writes a web `Response` to a `node:http` response, streaming its body. */
async function writeResponse(
  response: Response,
  outgoing: ServerResponse,
  signal: AbortSignal,
): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  outgoing.writeHead(response.status, response.statusText, headers);
  if (response.body === null) {
    outgoing.end();
    return;
  }
  const reader = response.body.getReader();
  const cancel = () => void reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", cancel, { once: true });
  try {
    while (!signal.aborted) {
      const { done, value } = await reader.read();
      if (done) break;
      // A server-sent event is flushed at once; wait when the socket is
      // full.
      if (!outgoing.write(value)) {
        await new Promise<void>((resolve) => {
          const resume = () => {
            outgoing.off("drain", resume);
            outgoing.off("close", resume);
            resolve();
          };
          outgoing.on("drain", resume);
          outgoing.on("close", resume);
        });
      }
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  } finally {
    signal.removeEventListener("abort", cancel);
    outgoing.end();
  }
}

/**
 * Serves `handler` on `options.hostname`:`options.port` until `close()`.
 *
 * @param handler The handler every request goes to.
 * @param options Where to listen.
 * @returns The server, once it listens.
 * @throws {Error} when it cannot listen (the port is taken, the address is
 * not this machine's): the `node:http` error (`code` `EADDRINUSE`, ...).
 */
export function serve(
  handler: FetchHandler,
  options: ServeOptions,
): Promise<Served> {
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const sockets = new Set<Socket>();
  const inFlight = new Set<AbortController>();
  const handled = new Set<Promise<void>>();
  let base = `http://${urlHost(options.hostname)}:${options.port}`;

  const handle = async (
    incoming: IncomingMessage,
    outgoing: ServerResponse,
  ) => {
    const controller = new AbortController();
    inFlight.add(controller);
    // The client went away before the response ended (a closed page's
    // event stream): the handler sees its request's signal abort.
    outgoing.on("close", () => {
      if (!outgoing.writableFinished) controller.abort();
    });
    try {
      let request: Request;
      try {
        request = await toRequest(
          incoming,
          base,
          controller.signal,
          maxBodyBytes,
        );
      } catch (error) {
        if (error instanceof BodyTooLarge) {
          outgoing.writeHead(413, { "content-type": "text/plain" });
          outgoing.end("Request body too large\n");
          return;
        }
        outgoing.writeHead(400, { "content-type": "text/plain" });
        outgoing.end("Bad request\n");
        return;
      }
      let response: Response;
      try {
        response = await handler(request);
      } catch {
        if (!outgoing.headersSent) {
          outgoing.writeHead(500, { "content-type": "text/plain" });
        }
        outgoing.end("Internal server error\n");
        return;
      }
      await writeResponse(response, outgoing, controller.signal);
    } catch {
      outgoing.destroy();
    } finally {
      inFlight.delete(controller);
    }
  };

  const server = createServer((incoming, outgoing) => {
    const done = handle(incoming, outgoing);
    handled.add(done);
    done.finally(() => handled.delete(done));
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  return new Promise<Served>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      const address = server.address();
      const port = typeof address === "object" && address !== null
        ? address.port
        : options.port;
      base = `http://${urlHost(options.hostname)}:${port}`;
      let closing: Promise<void> | null = null;
      resolve({
        url: `${base}/`,
        port,
        close: () =>
          closing ??= (async () => {
            const closed = new Promise<void>((done) =>
              server.close(() => done())
            );
            for (const controller of inFlight) controller.abort();
            await Promise.allSettled([...handled]);
            for (const socket of sockets) socket.destroy();
            await closed;
          })(),
      });
    });
  });
}
