/**
 * `GET /runs/<id>`: one run: its status, timing, input, output or error,
 * parent and children, signals, its steps as a timeline, and the buttons
 * that cancel, retry and fork it.
 *
 * @module
 */

import {
  type Backend,
  type StepAttempt,
  TERMINAL_STATUSES,
  type WorkflowRun,
  type WorkflowRunPage,
  type WorkflowRunSignal,
} from "../core/backend.ts";
import type { JsonValue } from "../core/json.ts";
import { hashFingerprint } from "./events.ts";
import {
  formatDuration,
  type Html,
  jsonBlock,
  markup,
  preBlock,
  time,
} from "./html.ts";
import { csrfField, page, type PageContext } from "./layout.ts";
import { runDuration } from "./runs_page.ts";

/** The most step attempts the timeline shows. */
export const MAX_TIMELINE_ATTEMPTS = 500;
/** The most children listed. */
export const MAX_CHILDREN = 50;

/** Everything the run page shows. */
export interface RunView {
  run: WorkflowRun;
  attempts: StepAttempt[];
  children: WorkflowRunPage;
  signals: WorkflowRunSignal[] | null;
}

/** Reads a run and what belongs to it, or `null` for an unknown id. */
export async function readRun(
  backend: Backend,
  workflowRunId: string,
): Promise<RunView | null> {
  const run = await backend.getWorkflowRun({ workflowRunId });
  if (run === null) return null;
  const [attempts, children, signals] = await Promise.all([
    backend.listStepAttempts({ workflowRunId: run.id }),
    backend.listWorkflowRuns({
      parentWorkflowRunId: run.id,
      limit: MAX_CHILDREN,
    }),
    backend.listSignals?.({ workflowRunId: run.id }) ?? null,
  ]);
  return { run, attempts, children, signals };
}

/**
 * A fingerprint of a run as its page shows it: its status and last change,
 * and (while unfinished) its step attempts.
 */
export async function runFingerprint(
  backend: Backend,
  workflowRunId: string,
): Promise<string> {
  const run = await backend.getWorkflowRun({ workflowRunId });
  if (run === null) return hashFingerprint("gone");
  const attempts = TERMINAL_STATUSES.includes(run.status)
    ? null
    : await backend.listStepAttempts({ workflowRunId });
  return viewFingerprint(run, attempts);
}

function viewFingerprint(
  run: WorkflowRun,
  attempts: StepAttempt[] | null,
): Promise<string> {
  const last = attempts?.at(-1);
  return hashFingerprint(
    [
      run.status,
      run.updatedAt.getTime(),
      attempts?.length ?? "-",
      last?.status ?? "",
      last?.completedAt?.getTime() ?? "",
    ].join(":"),
  );
}

/** The message of a serialized error, with its name. */
function errorSummary(error: JsonValue | null): string {
  if (error === null || typeof error !== "object" || Array.isArray(error)) {
    return error === null ? "" : String(error);
  }
  const name = typeof error.name === "string" ? error.name : "Error";
  const message = typeof error.message === "string" ? error.message : "";
  return message === "" ? name : `${name}: ${message}`;
}

function errorStack(error: JsonValue | null): string | null {
  if (error === null || typeof error !== "object" || Array.isArray(error)) {
    return null;
  }
  return typeof error.stack === "string" ? error.stack : null;
}

/** The step timeline: each attempt a bar placed in the run's time span. */
function timeline(run: WorkflowRun, attempts: StepAttempt[], nowMs: number) {
  if (attempts.length === 0) {
    return markup`<p class="none" data-live="steps">No steps yet.</p>`;
  }
  const shown = attempts.slice(0, MAX_TIMELINE_ATTEMPTS);
  const start = Math.min(
    run.startedAt?.getTime() ?? run.createdAt.getTime(),
    ...shown.map((a) => a.createdAt.getTime()),
  );
  const end = Math.max(
    run.completedAt?.getTime() ?? nowMs,
    ...shown.map((a) => a.completedAt?.getTime() ?? nowMs),
  );
  const span = Math.max(1, end - start);
  const items = shown.map((attempt) => {
    const from = attempt.createdAt.getTime();
    const to = attempt.completedAt?.getTime() ?? nowMs;
    const x = ((from - start) / span) * 1000;
    const width = Math.max(2, ((to - from) / span) * 1000);
    const duration = formatDuration(to - from);
    const failed = attempt.status === "failed";
    return markup`<li data-status="${attempt.status}">
<span class="step-name">${attempt.stepName}</span>
<span class="kind">${attempt.kind}</span>
<span class="duration">${duration}${
      attempt.status === "running" ? " so far" : ""
    }</span>
<svg class="bar" viewBox="0 0 1000 10" preserveAspectRatio="none" role="img" aria-label="${attempt.status}, from ${
      formatDuration(from - start)
    } to ${
      formatDuration(to - start)
    } into the run"><rect class="track" x="0" y="0" width="1000" height="10"></rect><rect class="span" x="${
      x.toFixed(1)
    }" y="0" width="${
      Math.min(width, 1000 - x).toFixed(1)
    }" height="10"></rect></svg>
${
      failed
        ? markup`<p class="step-error">Failed: ${
          errorSummary(attempt.error)
        }</p>`
        : ""
    }
</li>`;
  });
  return markup`<div data-live="steps">
<ol class="timeline" aria-label="Step timeline">
${items}
</ol>
${
    attempts.length > shown.length
      ? markup`<p class="note">Showing the first ${shown.length} of ${attempts.length} step attempts.</p>`
      : ""
  }
</div>`;
}

/** What the page's buttons may do on this backend. */
export interface RunActions {
  retry: boolean;
  fork: boolean;
}

function actions(
  context: PageContext,
  run: WorkflowRun,
  can: RunActions,
): Html {
  const base = `${context.base}/runs/${run.id}`;
  const finished = TERMINAL_STATUSES.includes(run.status);
  const form = (action: string, label: string, danger = false) =>
    markup`
      <form class="inline" method="post"
        action="${base}/${action}">${
      csrfField(
        context,
      )
    }<button type="submit"${
      danger ? markup` class="danger"` : ""
    }>${label}</button></form>
    `;
  return markup`<div class="actions" data-live="actions">
${finished ? "" : form("cancel", "Cancel run", true)}
${
    can.retry && (run.status === "failed" || run.status === "canceled")
      ? form("retry", "Retry run")
      : ""
  }
${can.fork ? form("fork", "Fork run") : ""}
</div>`;
}

function runLink(base: string, id: string): Html {
  return markup`<a href="${base}/runs/${id}"><code>${id}</code></a>`;
}

/** The run page. */
export async function runPage(
  context: PageContext,
  view: RunView,
  can: RunActions,
  maxPayloadChars: number,
): Promise<Html> {
  const { run, attempts, children, signals } = view;
  const base = context.base;
  const nowMs = Date.now();
  const stack = errorStack(run.error);
  const result = run.status === "succeeded"
    ? markup`<h2>Output</h2>${jsonBlock(run.output, maxPayloadChars, "Output")}`
    : run.error !== null
    ? markup`<h2>Error</h2>
<p class="error-message">${errorSummary(run.error)}</p>
${stack === null ? "" : preBlock(stack, maxPayloadChars, "Stack")}`
    : markup`
      <h2>Output</h2>
      <p class="none">Not finished yet.</p>
    `;
  const childList = children.runs.length === 0
    ? markup`<p class="none">No children.</p>`
    : markup`<ul>${
      children.runs.map((child) =>
        markup`<li>${
          runLink(base, child.id)
        } ${child.workflowName} <span data-status="${child.status}">${child.status}</span></li>`
      )
    }</ul>${
      children.nextCursor === null
        ? ""
        : markup`<p class="note">Showing the newest ${children.runs.length} children.</p>`
    }`;
  const signalTable = signals === null
    ? markup`<p class="none">This backend does not list signals.</p>`
    : signals.length === 0
    ? markup`<p class="none">No signals.</p>`
    : markup`
      <table>
        <caption>Signals</caption>
        <thead>
          <tr>
            <th scope="col">Signal</th>
            <th scope="col">Sent</th>
            <th scope="col">Received</th>
            <th scope="col">Data</th>
          </tr>
        </thead>
        <tbody>${
      signals.map((s) =>
        markup`
            <tr>
              <td>${s.signal}${
          s.broadcast
            ? markup`
                  <span class="note">(broadcast)</span>
                `
            : ""
        }</td>
              <td>${time(s.sentAt)}</td>
              <td>${
          s.receivedAt === null
            ? markup`<span class="none">not yet</span>`
            : time(s.receivedAt)
        }</td>
              <td>${
          jsonBlock(
            s.data,
            Math.min(maxPayloadChars, 4_096),
            "Signal data",
          )
        }</td>
            </tr>
          `
      )
    }</tbody>
      </table>
    `;
  const fingerprint = await viewFingerprint(
    run,
    TERMINAL_STATUSES.includes(run.status) ? null : attempts,
  );
  return page(
    context,
    `${run.workflowName} ${run.status}`,
    markup`
      <h1>${run.workflowName}</h1>
      <p>Run <code>${run.id}</code> · <span data-live="status"><span data-testid="run-status" data-status="${run.status}">${run.status}</span></span></p>
      ${actions(context, run, can)}
      <div data-live="timing">
        <h2>Timing</h2>
        <dl class="facts">
      <dt>Created</dt><dd>${time(run.createdAt)}</dd>
      <dt>Started</dt><dd>${time(run.startedAt)}</dd>
      <dt>Completed</dt><dd>${time(run.completedAt)}</dd>
      <dt>Duration</dt><dd>${runDuration(run, nowMs)}</dd>
      <dt>Attempts</dt><dd>${run.attempts}</dd>
      <dt>Version</dt><dd>${
      run.version ??
        markup`<span class="none">—</span>`
    }</dd>
      <dt>Deadline</dt><dd>${time(run.deadlineAt)}</dd>
      <dt>Parent</dt><dd>${
      run.parentWorkflowRunId === null
        ? markup`<span class="none">—</span>`
        : runLink(base, run.parentWorkflowRunId)
    }</dd>
      ${
      run.forkedFromWorkflowRunId === null ? "" : markup`
        <dt>Forked from</dt>
        <dd>${runLink(base, run.forkedFromWorkflowRunId)}</dd>
      `
    }
        </dl>
      </div>
      <h2>Input</h2>
      ${jsonBlock(run.input, maxPayloadChars, "Input")}
      <div data-live="result">${result}</div>
      <section aria-labelledby="steps-heading">
      <h2 id="steps-heading">Steps</h2>
      ${timeline(run, attempts, nowMs)}
      </section>
      <section aria-labelledby="children-heading" data-live="children">
      <h2 id="children-heading">Children</h2>
      ${childList}
      </section>
      <section aria-labelledby="signals-heading" data-live="signals">
      <h2 id="signals-heading">Signals</h2>
      ${signalTable}
      </section>
    `,
    markup`data-events="${base}/runs/${run.id}/events?v=${fingerprint}"`,
  );
}
