/**
 * `createDashboard()`: the web-standard request handler of the dashboard
 * and its `/metrics` endpoint: routing, authentication, CSRF and origin
 * checks, and the security headers of every response.
 *
 * @module
 */

import { TERMINAL_STATUSES } from "../core/backend.ts";
import {
  ScheduleNotFoundError,
  WorkflowRunNotFoundError,
  WorkflowRunStatusError,
} from "../core/errors.ts";
import { setPaused } from "../core/schedule_store.ts";
import { cancelWorkflowRun } from "../client/handle.ts";
import { forkRun, retryRun } from "../client/operations.ts";
import { DASHBOARD_CSS, DASHBOARD_JS } from "./assets.ts";
import {
  Authenticator,
  bearerToken,
  isHttps,
  isSameOrigin,
  readCookie,
  type Session,
  SESSION_COOKIE,
  sessionCookie,
} from "./auth.ts";
import { eventStream, NotificationFeed } from "./events.ts";
import type { Html } from "./html.ts";
import { errorPage, loginPage, type PageContext } from "./layout.ts";
import { GaugeCache, METRICS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";
import { type DashboardOptions, resolveOptions } from "./options.ts";
import { readRun, runFingerprint, runPage } from "./run_page.ts";
import {
  FilterError,
  parseFilters,
  readRunPage,
  runPageFingerprint,
  runsPage,
} from "./runs_page.ts";
import { schedulesPage } from "./schedules_page.ts";

/** A web-standard request handler, as `Deno.serve` and `Bun.serve` take. */
export type DashboardHandler = (request: Request) => Promise<Response>;

/** The Content-Security-Policy of every response. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Input, output, stack: shown up to this many characters. */
export const MAX_PAYLOAD_CHARS = 64 * 1024;

/** The largest form body read, in bytes. */
const MAX_FORM_BYTES = 16 * 1024;

/** How long a wrong login waits before it is answered. */
const FAILED_LOGIN_DELAY_MS = 250;

const RUN_ID =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function securityHeaders(): Headers {
  return new Headers({
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
  });
}

function respond(
  body: string | null,
  status: number,
  contentType: string | null,
  extra: Record<string, string> = {},
): Response {
  const headers = securityHeaders();
  if (contentType !== null) headers.set("content-type", contentType);
  for (const [name, value] of Object.entries(extra)) headers.set(name, value);
  return new Response(body, { status, headers });
}

function htmlResponse(
  markup: Html,
  status = 200,
  extra: Record<string, string> = {},
): Response {
  return respond(markup.text, status, "text/html; charset=utf-8", extra);
}

function redirect(location: string, extra: Record<string, string> = {}) {
  return respond(null, 303, null, { location, ...extra });
}

/** How a request was let in. */
type Access =
  | { kind: "bearer" }
  | { kind: "session"; session: Session }
  | { kind: "open"; session: Session };

/** Reads a URL-encoded form body of at most `MAX_FORM_BYTES`. */
async function readForm(request: Request): Promise<URLSearchParams | null> {
  const type = request.headers.get("content-type") ?? "";
  if (!type.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
    // Buttons post an empty form; tolerate a missing type on an empty body.
    if (type !== "") return null;
  }
  if (request.body === null) return new URLSearchParams();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_FORM_BYTES) {
        await reader.cancel();
        return null;
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new URLSearchParams(new TextDecoder().decode(bytes));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Makes the dashboard: a web-standard handler
 * (`(request: Request) => Promise<Response>`) that serves the runs list,
 * run pages, schedules, live updates (server-sent events) and a Prometheus
 * `/metrics` endpoint for one backend. It runs unchanged on Deno
 * (`Deno.serve`), Bun (`Bun.serve`) and Node (through the adapter below).
 *
 * Routes, under `basePath`:
 * - `GET /login`, `POST /login` (form field `token`), `POST /logout`;
 * - `GET /` the runs list: counts per status, filters (`status`,
 *   `workflow`, `createdAfter`, `createdBefore`: `datetime-local` values,
 *   read as UTC) and cursor pagination (`cursor`), 50 runs a page;
 *   `GET /events` its event stream;
 * - `GET /runs/<id>`, `GET /runs/<id>/events`, and
 *   `POST /runs/<id>/cancel`, `/retry`, `/fork` (303 back to the run, a
 *   fork to the new run);
 * - `GET /schedules`, `POST /schedules/<id>/pause`, `/resume`;
 * - `GET /metrics`: Prometheus text format 0.0.4 (`openworkflow_runs`
 *   by namespace, workflow and status; the oldest claimable run's age;
 *   schedule lag; this process's counters and histograms);
 * - `GET /assets/dashboard.css`, `/assets/dashboard.js`.
 *
 * Security: every route but the login form and the two assets needs
 * `Authorization: Bearer <token>` or the session cookie the login form
 * sets (`HttpOnly`, `SameSite=Strict`, `Secure` over HTTPS, signed with an
 * HMAC key derived from the token; never the token itself). Unauthenticated
 * page requests are redirected to the login form, others get 401. Tokens
 * are compared in constant time and never put in URLs. State-changing
 * requests are `POST`s; with a session they need the form's CSRF token
 * (an HMAC of the session) and an `Origin` (or `Referer`) of this
 * dashboard, else they change nothing and get 403 (a bearer request, which
 * a browser never sends by itself, needs neither). Every value users
 * wrote is HTML-escaped, and every response carries a strict
 * Content-Security-Policy (no inline script or style), `nosniff`,
 * `no-referrer` and `no-store`.
 *
 * @param options The backend, the token, and the rest of
 * {@linkcode DashboardOptions}.
 * @returns The request handler.
 * @throws {TypeError} without a backend; without a token (at least 16
 * characters), unless `auth: false` with `loopbackOnly: true`.
 * @throws {RangeError} for a negative duration option.
 *
 * @example Serve it with Deno
 * ```ts ignore
 * import { createDashboard } from "@openworkflow/core/dashboard";
 * import { BackendPostgres } from "@openworkflow/core/postgres";
 *
 * const backend = await BackendPostgres.connect(Deno.env.get("DATABASE_URL")!);
 * Deno.serve(
 *   { port: 8080 },
 *   createDashboard({ backend, token: Deno.env.get("OPENWORKFLOW_DASHBOARD_TOKEN") }),
 * );
 * ```
 *
 * @example Call it with a Request
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDashboard } from "@openworkflow/core/dashboard";
 * import { BackendSqlite } from "@openworkflow/core/sqlite";
 *
 * await using backend = await BackendSqlite.connect(":memory:");
 * const token = "0123456789abcdef0123";
 * const dashboard = createDashboard({ backend, token });
 * const denied = await dashboard(new Request("http://localhost/metrics"));
 * assert.equal(denied.status, 401);
 * const metrics = await dashboard(new Request("http://localhost/metrics", {
 *   headers: { authorization: `Bearer ${token}` },
 * }));
 * assert.equal(metrics.status, 200);
 * assert.match(await metrics.text(), /# TYPE openworkflow_backend_up gauge/);
 * ```
 *
 * @example Serve it with Node's `node:http` (a small adapter)
 * ```ts ignore
 * import { createServer } from "node:http";
 * import { Readable } from "node:stream";
 *
 * const dashboard = createDashboard({ backend, token });
 * createServer(async (req, res) => {
 *   const abort = new AbortController();
 *   res.on("close", () => abort.abort());
 *   const hasBody = req.method !== "GET" && req.method !== "HEAD";
 *   const request = new Request(`http://${req.headers.host}${req.url}`, {
 *     method: req.method,
 *     headers: req.headers as Record<string, string>,
 *     body: hasBody ? Readable.toWeb(req) as ReadableStream : undefined,
 *     signal: abort.signal,
 *     // @ts-ignore: Node's fetch needs it for a streamed body
 *     duplex: "half",
 *   });
 *   const response = await dashboard(request);
 *   res.writeHead(response.status, Object.fromEntries(response.headers));
 *   if (response.body === null) return res.end();
 *   // Streams (server-sent events) are written as they come.
 *   for await (const chunk of response.body) res.write(chunk);
 *   res.end();
 * }).listen(8080, "127.0.0.1");
 * ```
 */
export function createDashboard(options: DashboardOptions): DashboardHandler {
  const config = resolveOptions(options);
  const backend = config.backend;
  const base = config.basePath;
  const open = config.token === null;
  const auth = new Authenticator(
    config.token ?? crypto.randomUUID() + crypto.randomUUID(),
    config.sessionTtlMs,
  );
  const openSession: Session = { id: "open", expiresAtMs: Infinity };
  const gauges = new GaugeCache(backend, config.metricsCacheMs);
  const feed = new NotificationFeed(backend);
  const can = {
    retry: typeof backend.retryWorkflowRun === "function",
    fork: typeof backend.forkWorkflowRun === "function",
  };

  async function authenticate(request: Request): Promise<Access | null> {
    if (open) return { kind: "open", session: openSession };
    const bearer = bearerToken(request);
    if (bearer !== null) {
      return await auth.checkToken(bearer) ? { kind: "bearer" } : null;
    }
    const cookie = readCookie(request, SESSION_COOKIE);
    if (cookie === null) return null;
    const session = await auth.verifySession(cookie, Date.now());
    return session === null ? null : { kind: "session", session };
  }

  async function contextOf(access: Access): Promise<PageContext> {
    return {
      base,
      csrf: access.kind === "bearer"
        ? null
        : await auth.csrfToken(access.session),
      signedIn: access.kind === "session",
    };
  }

  function cookiePath(): string {
    return base === "" ? "/" : base;
  }

  function secure(request: Request): boolean {
    return config.secureCookies ?? isHttps(request);
  }

  function unauthenticated(request: Request): Response {
    const accept = request.headers.get("accept") ?? "";
    if (request.method === "GET" && accept.includes("text/html")) {
      return redirect(`${base}/login`);
    }
    return respond("Unauthorized\n", 401, "text/plain; charset=utf-8", {
      "www-authenticate": 'Bearer realm="openworkflow"',
    });
  }

  /** Whether a POST may change something; otherwise why not. */
  async function checkPost(
    request: Request,
    access: Access,
    form: URLSearchParams | null,
  ): Promise<string | null> {
    if (access.kind === "bearer") return null;
    if (!isSameOrigin(request, config.allowedOrigins)) {
      return "The request did not come from a page of this dashboard.";
    }
    const csrf = form?.get("csrf") ?? "";
    if (!await auth.checkCsrf(access.session, csrf)) {
      return "The form's security token is missing or stale; reload the page and try again.";
    }
    return null;
  }

  async function login(request: Request): Promise<Response> {
    const origin = request.headers.get("origin");
    if (
      (origin !== null && origin !== "null" &&
        !isSameOrigin(request, config.allowedOrigins)) ||
      request.headers.get("sec-fetch-site") === "cross-site"
    ) {
      return htmlResponse(loginPage(base, "Sign in from this page."), 403);
    }
    const form = await readForm(request);
    const token = form?.get("token") ?? "";
    if (open) return redirect(`${base}/`);
    if (token === "" || !await auth.checkToken(token)) {
      await delay(FAILED_LOGIN_DELAY_MS);
      return htmlResponse(loginPage(base, "Invalid token"), 401);
    }
    const value = await auth.createSession(Date.now());
    return redirect(`${base}/`, {
      "set-cookie": sessionCookie(value, {
        path: cookiePath(),
        secure: secure(request),
        maxAgeS: Math.floor(auth.sessionTtlMs / 1000),
      }),
    });
  }

  async function route(request: Request): Promise<Response> {
    const url = new URL(request.url);
    let path = url.pathname;
    if (base !== "") {
      if (path === base) path = "/";
      else if (path.startsWith(`${base}/`)) path = path.slice(base.length);
      else return respond("Not found\n", 404, "text/plain; charset=utf-8");
    }
    const method = request.method === "HEAD" ? "GET" : request.method;
    if (method === "GET" && path === "/assets/dashboard.css") {
      return respond(DASHBOARD_CSS, 200, "text/css; charset=utf-8");
    }
    if (method === "GET" && path === "/assets/dashboard.js") {
      return respond(DASHBOARD_JS, 200, "text/javascript; charset=utf-8");
    }
    if (path === "/login") {
      if (method === "POST") return await login(request);
      if (method !== "GET") return notAllowed();
      if (await authenticate(request) !== null) return redirect(`${base}/`);
      return htmlResponse(loginPage(base, null));
    }
    const access = await authenticate(request);
    if (access === null) return unauthenticated(request);
    const context = await contextOf(access);
    const segments = path.split("/").slice(1);
    let decoded: string[];
    try {
      decoded = segments.map(decodeURIComponent);
    } catch {
      return notFound(context);
    }

    if (method === "POST") {
      const form = await readForm(request);
      const refused = await checkPost(request, access, form);
      if (refused !== null) {
        return htmlResponse(errorPage(context, "Forbidden", refused), 403);
      }
      return await act(context, access, decoded);
    }
    if (method !== "GET") return notAllowed();

    if (path === "/") {
      const filters = parseFilters(url);
      return htmlResponse(
        await runsPage(
          context,
          backend,
          filters,
          `${base}/events${url.search}`,
        ),
      );
    }
    if (path === "/events") {
      const filters = parseFilters(url);
      return eventStream(request, {
        feed,
        probe: async () =>
          await runPageFingerprint(await readRunPage(backend, filters)),
        since: url.searchParams.get("v"),
        pollIntervalMs: config.pollIntervalMs * 5,
        headers: securityHeaders(),
      });
    }
    if (path === "/metrics") {
      return respond(
        await renderMetrics(gauges, config.namespaceId),
        200,
        METRICS_CONTENT_TYPE,
      );
    }
    if (path === "/schedules") {
      const schedules = typeof backend.listSchedules === "function"
        ? await backend.listSchedules()
        : null;
      return htmlResponse(schedulesPage(context, schedules));
    }
    if (decoded[0] === "runs" && RUN_ID.test(decoded[1] ?? "")) {
      const id = decoded[1].toLowerCase();
      if (decoded.length === 2) {
        const view = await readRun(backend, id);
        if (view === null) return notFound(context);
        return htmlResponse(
          await runPage(context, view, can, MAX_PAYLOAD_CHARS),
        );
      }
      if (decoded.length === 3 && decoded[2] === "events") {
        if (await backend.getWorkflowRun({ workflowRunId: id }) === null) {
          return notFound(context);
        }
        return eventStream(request, {
          feed,
          probe: () => runFingerprint(backend, id),
          since: url.searchParams.get("v"),
          pollIntervalMs: config.pollIntervalMs,
          headers: securityHeaders(),
        });
      }
    }
    return notFound(context);
  }

  async function act(
    context: PageContext,
    access: Access,
    path: string[],
  ): Promise<Response> {
    if (path.length === 1 && path[0] === "logout") {
      if (access.kind === "session") auth.revoke(access.session, Date.now());
      return redirect(`${base}/login`, {
        "set-cookie": sessionCookie("", {
          path: cookiePath(),
          secure: false,
          maxAgeS: 0,
        }),
      });
    }
    if (path.length === 3 && path[0] === "runs" && RUN_ID.test(path[1])) {
      const id = path[1].toLowerCase();
      const back = `${base}/runs/${id}`;
      try {
        switch (path[2]) {
          case "cancel": {
            const run = await backend.getWorkflowRun({ workflowRunId: id });
            if (run === null) return notFound(context);
            if (!TERMINAL_STATUSES.includes(run.status)) {
              await cancelWorkflowRun(backend, id);
            }
            return redirect(back);
          }
          case "retry":
            if (!can.retry) break;
            await retryRun(backend, id);
            return redirect(back);
          case "fork": {
            if (!can.fork) break;
            const fork = await forkRun(backend, id, {});
            return redirect(`${base}/runs/${fork.id}`);
          }
        }
      } catch (error) {
        if (error instanceof WorkflowRunNotFoundError) {
          return notFound(context);
        }
        if (error instanceof WorkflowRunStatusError) {
          return htmlResponse(
            errorPage(context, "Conflict", error.message),
            409,
          );
        }
        throw error;
      }
    }
    if (
      path.length === 3 && path[0] === "schedules" &&
      (path[2] === "pause" || path[2] === "resume") &&
      typeof backend.updateSchedule === "function"
    ) {
      try {
        await setPaused(backend, path[1], path[2] === "pause");
      } catch (error) {
        if (error instanceof ScheduleNotFoundError) return notFound(context);
        throw error;
      }
      return redirect(`${base}/schedules`);
    }
    return notFound(context);
  }

  function notFound(context: PageContext): Response {
    return htmlResponse(
      errorPage(context, "Not found", "Nothing here: no such page or run."),
      404,
    );
  }

  function notAllowed(): Response {
    return respond("Method not allowed\n", 405, "text/plain; charset=utf-8", {
      allow: "GET, POST",
    });
  }

  return async (request: Request): Promise<Response> => {
    try {
      const response = await route(request);
      if (request.method === "HEAD" && response.body !== null) {
        await response.body.cancel();
        return new Response(null, {
          status: response.status,
          headers: response.headers,
        });
      }
      return response;
    } catch (error) {
      const context: PageContext = { base, csrf: null, signedIn: false };
      if (error instanceof FilterError) {
        return htmlResponse(
          errorPage(context, "Bad request", error.message),
          400,
        );
      }
      return htmlResponse(
        errorPage(
          context,
          "Server error",
          `The dashboard could not answer: ${
            error instanceof Error ? error.name : "error"
          }. Try again; if it persists, check the backend.`,
        ),
        500,
      );
    }
  };
}
