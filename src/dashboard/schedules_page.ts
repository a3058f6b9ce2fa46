/**
 * `GET /schedules`: the namespace's schedules, each with a button that
 * pauses or resumes it.
 *
 * @module
 */

import type { Schedule } from "../core/backend.ts";
import { type Html, markup, time } from "./html.ts";
import { csrfField, page, type PageContext } from "./layout.ts";

/** The schedules page (`null`: the backend has no schedules). */
export function schedulesPage(
  context: PageContext,
  schedules: Schedule[] | null,
): Html {
  const base = context.base;
  const body = schedules === null
    ? markup`<p class="none">This backend does not keep schedules.</p>`
    : markup`
      <table>
        <caption>Schedules</caption>
        <thead>
          <tr>
            <th scope="col">Schedule</th>
            <th scope="col">Workflow</th>
            <th scope="col">Cron</th>
            <th scope="col">Next run</th>
            <th scope="col">Last run</th>
            <th scope="col">State</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
      ${
      schedules.length === 0
        ? markup`
          <tr>
            <td colspan="7" class="none">No schedules.</td>
          </tr>
        `
        : schedules.map((s) =>
          markup`
            <tr>
              <td><code>${s.id}</code></td>
              <td>${s.workflowName}${
            s.version === null ? "" : markup`
                <span class="note">${s.version}</span>
              `
          }</td>
              <td><code>${s.cron}</code> <span class="note">${s.timezone}</span></td>
              <td>${
            s.paused ? markup`<span class="none">—</span>` : time(s.nextRunAt)
          }</td>
              <td>${time(s.lastRunAt)}</td>
              <td data-paused="${String(s.paused)}">${
            s.paused ? "paused" : "active"
          }</td>
              <td>
                <form class="inline" method="post"
                  action="${base}/schedules/${
            encodeURIComponent(
              s.id,
            )
          }/${s.paused ? "resume" : "pause"}">${
            csrfField(
              context,
            )
          }<button type="submit">${
            s.paused ? "Resume" : "Pause"
          }</button></form>
              </td>
            </tr>
          `
        )
    }
        </tbody>
      </table>
    `;
  return page(context, "Schedules", markup`<h1>Schedules</h1>\n${body}`);
}
