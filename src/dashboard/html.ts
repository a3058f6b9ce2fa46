/**
 * HTML for the dashboard: a tagged template that escapes every value it is
 * given (only other `Html` passes through as is), and the formatting of
 * times, durations and JSON payloads. No I/O.
 *
 * @module
 */

import type { JsonValue } from "../core/json.ts";

/** Markup that is safe to insert as is: built by {@linkcode markup}. */
export class Html {
  /** The markup. */
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** `text` with `& < > " '` as entities: safe in text and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(String(value));
}

/**
 * Markup from a template: each interpolated value is HTML-escaped, unless
 * it is `Html` (arrays are rendered item by item; `null`, `undefined` and
 * `false` render nothing).
 */
export function markup(
  strings: TemplateStringsArray,
  ...values: unknown[]
): Html {
  let text = strings[0];
  for (let i = 0; i < values.length; i++) {
    text += render(values[i]) + strings[i + 1];
  }
  return new Html(text);
}

/** A time as `2024-05-01 12:00:00.123Z` in a `<time>` element, or "—". */
export function time(date: Date | null): Html {
  if (date === null) return markup`<span class="none">—</span>`;
  const iso = date.toISOString();
  return markup`<time datetime="${iso}">${iso.replace("T", " ")}</time>`;
}

/** A duration in milliseconds, for people: `350 ms`, `1.2 s`, `3 min 5 s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1_000);
  if (s < 3_600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  const m = Math.round(s / 60);
  if (m < 1_440) return `${Math.floor(m / 60)} h ${m % 60} min`;
  return `${Math.floor(m / 1_440)} d ${Math.floor((m % 1_440) / 60)} h`;
}

/** JSON shown in a `<pre>`, cut (with a note) beyond `maxBytes` characters. */
export function jsonBlock(
  value: JsonValue | null | undefined,
  maxBytes: number,
  label: string,
): Html {
  if (value === null || value === undefined) {
    return markup`<p class="none">No ${label.toLowerCase()}.</p>`;
  }
  let text: string;
  try {
    text = JSON.stringify(value, null, 2) ?? "null";
  } catch {
    text = String(value);
  }
  return preBlock(text, maxBytes, label);
}

/** Text in a labelled `<pre>`, cut (with a note) beyond `maxChars`. */
export function preBlock(text: string, maxChars: number, label: string): Html {
  const cut = text.length > maxChars;
  return markup`<pre aria-label="${label}" tabindex="0">${
    cut ? text.slice(0, maxChars) : text
  }</pre>${
    cut
      ? markup`<p class="note">Shown cut to ${maxChars} of ${text.length} characters.</p>`
      : ""
  }`;
}
