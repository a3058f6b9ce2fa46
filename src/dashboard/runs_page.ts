/**
 * `GET /`: the runs list, with counts per status, filters (status,
 * workflow, creation time range) and cursor pagination.
 *
 * @module
 */

import {
  type Backend,
  RUN_STATUSES,
  type WorkflowRun,
  type WorkflowRunPage,
  type WorkflowRunStatus,
} from "../core/backend.ts";
import { MAX_NAME_LENGTH } from "../core/validate.ts";
import { formatDuration, type Html, markup, time } from "./html.ts";
import { page, type PageContext } from "./layout.ts";
import { hashFingerprint } from "./events.ts";

/** How many runs a page lists. */
export const PAGE_SIZE = 50;

/** A filter value that cannot be read: answered with a 400 page. */
export class FilterError extends Error {
  override readonly name = "FilterError";
}

/** The runs list's filters, read from its query string. */
export interface RunFilters {
  /** One status, or `null` for any. */
  status: WorkflowRunStatus | null;
  /** A workflow name, or `null` for any. */
  workflow: string | null;
  /** Created at or after, or `null`. */
  createdAfter: Date | null;
  /** Created before, or `null`. */
  createdBefore: Date | null;
  /** The next page's cursor, or `null` for the first page. */
  cursor: string | null;
}

const LOCAL_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?Z?$/;

/**
 * A `datetime-local` value (`2024-05-01T12:30`, seconds optional), read as
 * UTC.
 */
function parseTime(value: string, label: string): Date | null {
  if (value === "") return null;
  const match = LOCAL_TIME.exec(value);
  const date = match === null
    ? null
    : new Date(`${value.endsWith("Z") ? value : `${value}Z`}`);
  if (date === null || Number.isNaN(date.getTime())) {
    throw new FilterError(
      `${label} must be a date and time like 2024-05-01T12:30 (UTC), received ${
        JSON.stringify(value.slice(0, 40))
      }`,
    );
  }
  return date;
}

/**
 * Reads the filters of a runs list URL.
 *
 * @throws {FilterError} naming the value that cannot be read.
 */
export function parseFilters(url: URL): RunFilters {
  const q = url.searchParams;
  const statusText = q.get("status") ?? "";
  let status: WorkflowRunStatus | null = null;
  if (statusText !== "" && statusText !== "any") {
    if (!RUN_STATUSES.includes(statusText as WorkflowRunStatus)) {
      throw new FilterError(
        `Status must be one of any, ${RUN_STATUSES.join(", ")}, received ${
          JSON.stringify(statusText.slice(0, 40))
        }`,
      );
    }
    status = statusText as WorkflowRunStatus;
  }
  const workflow = (q.get("workflow") ?? "").trim();
  if (workflow.length > MAX_NAME_LENGTH) {
    throw new FilterError(
      `Workflow must be at most ${MAX_NAME_LENGTH} characters`,
    );
  }
  const createdAfter = parseTime(q.get("createdAfter") ?? "", "Created after");
  const createdBefore = parseTime(
    q.get("createdBefore") ?? "",
    "Created before",
  );
  const cursor = q.get("cursor");
  if (cursor !== null && cursor.length > 1_000) {
    throw new FilterError("The page cursor is not one this dashboard made");
  }
  return {
    status,
    workflow: workflow === "" ? null : workflow,
    createdAfter,
    createdBefore,
    cursor: cursor === "" ? null : cursor,
  };
}

/** The query string of `filters`, with `changes` applied. */
export function filterQuery(
  filters: RunFilters,
  changes: Partial<RunFilters> = {},
): string {
  const f = { ...filters, ...changes };
  const q = new URLSearchParams();
  if (f.status !== null) q.set("status", f.status);
  if (f.workflow !== null) q.set("workflow", f.workflow);
  if (f.createdAfter !== null) q.set("createdAfter", localTime(f.createdAfter));
  if (f.createdBefore !== null) {
    q.set("createdBefore", localTime(f.createdBefore));
  }
  if (f.cursor !== null) q.set("cursor", f.cursor);
  const text = q.toString();
  return text === "" ? "" : `?${text}`;
}

/** A date as a `datetime-local` value in UTC. */
function localTime(date: Date): string {
  return date.toISOString().replace(/(:00)?\.000Z$/, "").replace(/Z$/, "");
}

/** Reads one page of runs for `filters`. */
export async function readRunPage(
  backend: Backend,
  filters: RunFilters,
): Promise<WorkflowRunPage> {
  try {
    return await backend.listWorkflowRuns({
      ...(filters.workflow === null ? {} : { workflowName: filters.workflow }),
      ...(filters.status === null ? {} : { statuses: [filters.status] }),
      ...(filters.createdAfter === null
        ? {}
        : { createdAfter: filters.createdAfter }),
      ...(filters.createdBefore === null
        ? {}
        : { createdBefore: filters.createdBefore }),
      limit: PAGE_SIZE,
      cursor: filters.cursor,
    });
  } catch (error) {
    if (error instanceof TypeError) {
      throw new FilterError("The page cursor is not one this dashboard made");
    }
    throw error;
  }
}

/** How long a run took (or has taken so far), for people. */
export function runDuration(run: WorkflowRun, nowMs: number): string {
  if (run.startedAt === null) return "—";
  const end = run.completedAt?.getTime() ?? nowMs;
  return formatDuration(end - run.startedAt.getTime());
}

/** A fingerprint of a page of runs: changes when any run on it does. */
export function runPageFingerprint(runs: WorkflowRunPage): Promise<string> {
  return hashFingerprint(
    runs.runs.map((r) => `${r.id}:${r.status}:${r.updatedAt.getTime()}`)
      .join(",") + `|${runs.nextCursor ?? ""}`,
  );
}

/** The runs list page. */
export async function runsPage(
  context: PageContext,
  backend: Backend,
  filters: RunFilters,
  eventsUrl: string,
): Promise<Html> {
  const base = context.base;
  const [runPage, counts] = await Promise.all([
    readRunPage(backend, filters),
    backend.countWorkflowRuns?.({
      ...(filters.workflow === null ? {} : { workflowName: filters.workflow }),
      ...(filters.createdAfter === null
        ? {}
        : { createdAfter: filters.createdAfter }),
      ...(filters.createdBefore === null
        ? {}
        : { createdBefore: filters.createdBefore }),
    }) ?? null,
  ]);
  const nowMs = Date.now();
  const byStatus = new Map<string, number>();
  for (const c of counts ?? []) {
    byStatus.set(c.status, (byStatus.get(c.status) ?? 0) + c.count);
  }
  const countLinks = counts === null ? markup`` : markup`
    <nav aria-label="Runs by status">
      <ul class="counts" data-live="counts">
    ${
    RUN_STATUSES.map((status) =>
      markup`<li><a href="${base}/${
        filterQuery(filters, { status, cursor: null })
      }" data-status="${status}"${
        filters.status === status ? markup` aria-current="true"` : ""
      }>${status} ${byStatus.get(status) ?? 0}</a></li>`
    )
  }
      </ul>
    </nav>
  `;
  const filterForm = markup`
    <form class="filters" method="get" action="${base}/">
      <label for="filter-status">Status
    <select id="filter-status" name="status">
    <option value="any"${
    filters.status === null ? markup` selected` : ""
  }>any</option>
    ${
    RUN_STATUSES.map((s) =>
      markup`
        <option value="${s}"${
        filters.status === s ? markup` selected` : ""
      }>${s}</option>
      `
    )
  }
    </select></label>
      <label for="filter-workflow">Workflow
    <input id="filter-workflow" name="workflow" type="text" value="${
    filters
      .workflow ?? ""
  }" maxlength="${MAX_NAME_LENGTH}"></label>
      <label for="filter-after">Created after
    <input id="filter-after" name="createdAfter" type="datetime-local" step="1" value="${
    filters
        .createdAfter === null
      ? ""
      : localTime(filters.createdAfter)
  }" aria-describedby="utc-note"></label>
      <label for="filter-before">Created before
    <input id="filter-before" name="createdBefore" type="datetime-local" step="1" value="${
    filters
        .createdBefore === null
      ? ""
      : localTime(filters.createdBefore)
  }" aria-describedby="utc-note"></label>
      <button type="submit">Apply filters</button>
      <span id="utc-note" class="note">Times are UTC.</span>
    </form>
  `;
  const rows = runPage.runs.map((run) =>
    markup`
      <tr>
        <td><a href="${base}/runs/${run.id}"><code>${run.id}</code></a></td>
        <td>${run.workflowName}</td>
        <td data-status="${run.status}">${run.status}</td>
        <td>${time(run.createdAt)}</td>
        <td>${runDuration(run, nowMs)}</td>
      </tr>
    `
  );
  const table = markup`
    <table>
      <caption>Runs</caption>
      <thead>
        <tr>
          <th scope="col">Run</th>
          <th scope="col">Workflow</th>
          <th scope="col">Status</th>
          <th scope="col">Created</th>
          <th scope="col">Duration</th>
        </tr>
      </thead>
      <tbody>
    ${
    rows.length === 0
      ? markup`
        <tr>
          <td colspan="5" class="none">No runs match.</td>
        </tr>
      `
      : rows
  }
      </tbody>
    </table>
  `;
  const pager = markup`<nav class="pager" aria-label="Pages">${
    filters.cursor === null
      ? ""
      : markup`<a href="${base}/${
        filterQuery(filters, { cursor: null })
      }">First page</a>`
  }${
    runPage.nextCursor === null
      ? ""
      : markup`<a href="${base}/${
        filterQuery(filters, { cursor: runPage.nextCursor })
      }" rel="next">Next page</a>`
  }</nav>`;
  const fingerprint = await runPageFingerprint(runPage);
  return page(
    context,
    "Runs",
    markup`<h1>Runs</h1>
${countLinks}
${filterForm}
<div data-live="runs">
${table}
${pager}
</div>`,
    markup`data-events="${eventsUrl}${
      eventsUrl.includes("?") ? "&" : "?"
    }v=${fingerprint}"`,
  );
}
