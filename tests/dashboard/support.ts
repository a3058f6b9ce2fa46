/**
 * What the dashboard tests share: a dashboard on a backend with real runs
 * made by a real worker, and requests with or without a session.
 */

import assert from "node:assert/strict";
import {
  type Backend,
  OpenWorkflow,
  type WorkflowRunStatus,
} from "../../mod.ts";
import { createDashboard } from "../../dashboard.ts";

/** The token every test dashboard takes. */
export const TOKEN = "test-token-0123456789abcdef";
/** Where the test dashboard pretends to be served. */
export const ORIGIN = "http://dashboard.test";

/** A request to the dashboard. */
export function get(
  path: string,
  headers: Record<string, string> = {},
): Request {
  return new Request(`${ORIGIN}${path}`, { headers });
}

/** A bearer-authenticated GET. */
export function bearer(path: string, accept = "text/html"): Request {
  return get(path, { authorization: `Bearer ${TOKEN}`, accept });
}

/** A form POST. */
export function post(
  path: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Request {
  return new Request(`${ORIGIN}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      ...headers,
    },
    body: new URLSearchParams(fields).toString(),
  });
}

/** The handler. */
export type Handler = (request: Request) => Promise<Response>;

/** Signs in through the login form; returns the `Cookie` header value. */
export async function signIn(dashboard: Handler): Promise<string> {
  const response = await dashboard(
    post("/login", { token: TOKEN }, { origin: ORIGIN }),
  );
  assert.equal(response.status, 303);
  const setCookie = response.headers.get("set-cookie");
  assert.ok(setCookie !== null);
  return setCookie.split(";")[0];
}

/** The CSRF token in a page's forms. */
export async function csrfOf(
  dashboard: Handler,
  cookie: string,
  path = "/",
): Promise<string> {
  const response = await dashboard(get(path, { cookie, accept: "text/html" }));
  const text = await response.text();
  const match = /name="csrf" value="([^"]+)"/.exec(text);
  assert.ok(match !== null, `a CSRF field on ${path}`);
  return match[1];
}

/** The runs a test looks at, made by a worker. */
export interface Runs {
  succeeded: string;
  failed: string;
  /** Parked in a long sleep: unfinished. */
  sleeping: string;
}

/** Polls until run `id` has `status`. */
export async function waitForStatus(
  backend: Backend,
  id: string,
  status: WorkflowRunStatus,
): Promise<void> {
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    const run = await backend.getWorkflowRun({ workflowRunId: id });
    if (run?.status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`run ${id} never became ${status}`);
}

/**
 * Makes a succeeded, a failed and a sleeping run with a real worker, which
 * is stopped before it returns.
 */
export async function makeRuns(
  backend: Backend,
  names: { workflow?: string; step?: string; input?: unknown } = {},
): Promise<Runs> {
  const ow = new OpenWorkflow({ backend });
  const greet = ow.defineWorkflow(
    { name: names.workflow ?? "greet" },
    async ({ input, step }) => {
      await step.run({ name: names.step ?? "hello" }, () => "hi");
      return { echoed: input };
    },
  );
  const broken = ow.defineWorkflow(
    { name: "broken", retry: { maxAttempts: 1 } },
    async ({ step }) => {
      await step.run({ name: "fails", retry: { maxAttempts: 1 } }, () => {
        throw new Error("<b>boom</b>");
      });
    },
  );
  const nap = ow.defineWorkflow({ name: "nap" }, async ({ step }) => {
    await step.run({ name: "before" }, () => 1);
    await step.sleep("long-nap", "1h");
  });
  const worker = ow.newWorker({ concurrency: 4, pollIntervalMs: 20 });
  await worker.start();
  try {
    const ok = await greet.run(names.input ?? { name: "Ada" });
    await ok.result({ timeoutMs: 10_000 });
    const bad = await broken.run();
    await assert.rejects(bad.result({ timeoutMs: 10_000 }));
    const sleeping = await nap.run();
    await waitForStatus(backend, sleeping.id, "sleeping");
    return { succeeded: ok.id, failed: bad.id, sleeping: sleeping.id };
  } finally {
    await worker.stop();
  }
}

/** A dashboard with the test token. */
export function dashboardOf(backend: Backend): Handler {
  return createDashboard({ backend, token: TOKEN });
}
