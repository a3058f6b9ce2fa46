/**
 * The dashboard's page shell (header navigation, sign-out form, stylesheet
 * and script), the login page and the error pages.
 *
 * @module
 */

import { type Html, markup } from "./html.ts";

/** What every page needs to know about the request. */
export interface PageContext {
  /** The dashboard's base path (`""` at the root). */
  base: string;
  /** The session's CSRF token, or `null` without a session. */
  csrf: string | null;
  /** Whether the request was authenticated by a login session. */
  signedIn: boolean;
}

/** A hidden CSRF field for a POST form (nothing without a session). */
export function csrfField(context: PageContext): Html {
  return context.csrf === null
    ? markup``
    : markup`<input type="hidden" name="csrf" value="${context.csrf}">`;
}

/** A page: `body` in the shell, with `main` attributes when given. */
export function page(
  context: PageContext,
  title: string,
  body: Html,
  mainAttributes: Html = markup``,
): Html {
  const base = context.base;
  return markup`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <title>${title} · OpenWorkflow</title>
        <link rel="stylesheet" href="${base}/assets/dashboard.css">
        <script src="${base}/assets/dashboard.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
    <span class="brand">OpenWorkflow</span>
    <nav aria-label="Main">
    <a href="${base}/">Runs</a>
    <a href="${base}/schedules">Schedules</a>
    <a href="${base}/metrics">Metrics</a>
    </nav>
    ${
    context.signedIn
      ? markup`
        <form method="post"
          action="${base}/logout">${
        csrfField(
          context,
        )
      }<button type="submit">Sign out</button></form>
      `
      : ""
  }
        </header>
        <main id="main" ${mainAttributes}>
    ${body}
        </main>
      </body>
    </html>
  `;
}

/** The login page, with `message` (e.g. "Invalid token") when given. */
export function loginPage(base: string, message: string | null): Html {
  return markup`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Sign in · OpenWorkflow</title>
        <link rel="stylesheet" href="${base}/assets/dashboard.css">
      </head>
      <body>
        <main id="main">
          <form class="login" method="post" action="${base}/login">
    <h1>Sign in to OpenWorkflow</h1>
    ${message === null ? "" : markup`<p role="alert">${message}</p>`}
    <label for="token">Token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
    <button type="submit">Sign in</button>
          </form>
        </main>
      </body>
    </html>
  `;
}

/** An error page: a heading and a sentence. */
export function errorPage(
  context: PageContext,
  title: string,
  message: string,
): Html {
  return page(
    context,
    title,
    markup`
      <h1>${title}</h1>
      <p>${message}</p>
      <p><a href="${context.base}/">Back to the runs</a></p>
    `,
  );
}
