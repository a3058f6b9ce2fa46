/**
 * The dashboard's handler through Request and Response, against real
 * backends with runs made by a real worker: options, authentication,
 * cookies, CSRF and origin checks, escaping, security headers, 404s,
 * filters and pages, and the run actions.
 */

import assert from "node:assert/strict";
import { BackendSqlite } from "../../backend_sqlite.ts";
import { createDashboard } from "../../dashboard.ts";
import { constantTimeEqual } from "../../src/dashboard/auth.ts";
import { CONTENT_SECURITY_POLICY } from "../../src/dashboard/dashboard.ts";
import { testEachBackend } from "../helpers.ts";
import {
  bearer,
  csrfOf,
  dashboardOf,
  get,
  makeRuns,
  ORIGIN,
  post,
  signIn,
  TOKEN,
  waitForStatus,
} from "./support.ts";

function assertSecurityHeaders(response: Response, what: string): void {
  assert.equal(
    response.headers.get("content-security-policy"),
    CONTENT_SECURITY_POLICY,
    `CSP on ${what}`,
  );
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  assert.equal(response.headers.get("referrer-policy"), "no-referrer");
  assert.equal(response.headers.get("cache-control"), "no-store");
}

Deno.test("createDashboard() refuses to make an open dashboard by accident", async () => {
  await using backend = await BackendSqlite.connect(":memory:");
  assert.throws(
    () => createDashboard({ backend }),
    TypeError,
  );
  assert.throws(
    () => createDashboard({ backend, token: undefined }),
    TypeError,
  );
  assert.throws(() => createDashboard({ backend, token: "" }), TypeError);
  assert.throws(() => createDashboard({ backend, token: "short" }), TypeError);
  assert.throws(() => createDashboard({ backend, auth: false }), TypeError);
  assert.throws(
    () => createDashboard({ backend, auth: false, loopbackOnly: false }),
    TypeError,
  );
  assert.throws(
    // @ts-expect-error: no backend
    () => createDashboard({ token: TOKEN }),
    TypeError,
  );
  // The explicit opt-out on loopback only: open.
  const open = createDashboard({ backend, auth: false, loopbackOnly: true });
  const response = await open(get("/metrics"));
  assert.equal(response.status, 200);
  await response.body?.cancel();
});

Deno.test("constantTimeEqual() compares every byte, and lengths", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  assert.equal(constantTimeEqual(bytes("abc"), bytes("abc")), true);
  assert.equal(constantTimeEqual(bytes("abc"), bytes("abd")), false);
  assert.equal(constantTimeEqual(bytes("abc"), bytes("abcd")), false);
  assert.equal(constantTimeEqual(bytes(""), bytes("")), true);
});

testEachBackend(
  "dashboard: every route needs the token or a session; pages redirect to /login, the rest get 401",
  async ({ backend }) => {
    const runs = await makeRuns(backend);
    const dashboard = dashboardOf(backend);
    const routes = [
      "/",
      "/?status=failed",
      `/runs/${runs.failed}`,
      "/schedules",
      "/metrics",
    ];
    const cookie = await signIn(dashboard);
    for (const path of routes) {
      const page = await dashboard(get(path, { accept: "text/html" }));
      assert.equal(page.status, 303, `${path} without auth redirects`);
      assert.equal(page.headers.get("location"), "/login");
      assertSecurityHeaders(page, path);
      const api = await dashboard(get(path, { accept: "*/*" }));
      assert.equal(api.status, 401, `${path} without auth is 401`);
      assertSecurityHeaders(api, path);
      await api.body?.cancel();
      const wrong = await dashboard(
        get(path, { authorization: `Bearer ${TOKEN}x` }),
      );
      assert.equal(wrong.status, 401, `${path} with a wrong token`);
      await wrong.body?.cancel();
      const forged = await dashboard(
        get(path, { cookie: `openworkflow_session=${TOKEN}` }),
      );
      assert.equal(forged.status, 401, `${path} with a forged cookie`);
      await forged.body?.cancel();
      for (const request of [bearer(path), get(path, { cookie })]) {
        const ok = await dashboard(request);
        assert.equal(ok.status, 200, `${path} with auth`);
        assertSecurityHeaders(ok, path);
        await ok.body?.cancel();
      }
    }
    for (const path of ["/events", `/runs/${runs.sleeping}/events`]) {
      const denied = await dashboard(
        get(path, { accept: "text/event-stream" }),
      );
      assert.equal(denied.status, 401, `${path} without auth`);
      await denied.body?.cancel();
    }
    const denied = await dashboard(
      post(`/runs/${runs.sleeping}/cancel`, {}, { origin: ORIGIN }),
    );
    assert.equal(denied.status, 401);
    for (const asset of ["/assets/dashboard.js", "/assets/dashboard.css"]) {
      const response = await dashboard(get(asset));
      assert.equal(response.status, 200);
      assertSecurityHeaders(response, asset);
      await response.body?.cancel();
    }
    await waitForStatus(backend, runs.sleeping, "sleeping");
  },
);

testEachBackend(
  "dashboard: the login form sets a signed HttpOnly SameSite=Strict cookie (Secure over https); a wrong token gets 401; sign-out ends the session",
  async ({ backend }) => {
    const dashboard = dashboardOf(backend);
    const form = await dashboard(get("/login"));
    const page = await form.text();
    assert.match(page, /<label for="token">Token<\/label>/);
    assert.match(page, /<input id="token" name="token" type="password"/);
    assert.match(page, /<button type="submit">Sign in<\/button>/);

    const wrong = await dashboard(
      post("/login", { token: "not the token at all" }, { origin: ORIGIN }),
    );
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get("set-cookie"), null);
    assert.match(await wrong.text(), /Invalid token/);

    const ok = await dashboard(
      post("/login", { token: TOKEN }, { origin: ORIGIN }),
    );
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get("location"), "/");
    const cookie = ok.headers.get("set-cookie") ?? "";
    assert.match(cookie, /^openworkflow_session=[^;]+; /);
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Strict/);
    assert.match(cookie, /; Path=\//);
    assert.doesNotMatch(cookie, /Secure/, "no Secure flag over http");
    assert.ok(!cookie.includes(TOKEN), "the cookie is not the token");

    const https = await dashboard(
      new Request("https://dashboard.test/login", {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          origin: "https://dashboard.test",
        },
        body: `token=${TOKEN}`,
      }),
    );
    assert.match(https.headers.get("set-cookie") ?? "", /; Secure/);

    // A cross-site login is refused.
    const crossSite = await dashboard(
      post("/login", { token: TOKEN }, { origin: "https://evil.test" }),
    );
    assert.equal(crossSite.status, 403);
    await crossSite.body?.cancel();

    // Sign out: needs the CSRF token; afterwards the cookie is dead.
    const session = cookie.split(";")[0];
    const signOutPage = await (await dashboard(
      get("/", { cookie: session, accept: "text/html" }),
    )).text();
    assert.match(signOutPage, /<button type="submit">Sign out<\/button>/);
    const csrf = await csrfOf(dashboard, session);
    const refused = await dashboard(
      post("/logout", {}, { cookie: session, origin: ORIGIN }),
    );
    assert.equal(refused.status, 403);
    await refused.body?.cancel();
    const out = await dashboard(
      post("/logout", { csrf }, { cookie: session, origin: ORIGIN }),
    );
    assert.equal(out.status, 303);
    assert.match(out.headers.get("set-cookie") ?? "", /Max-Age=0/);
    const after = await dashboard(get("/metrics", { cookie: session }));
    assert.equal(after.status, 401);
    await after.body?.cancel();
  },
);

testEachBackend(
  "dashboard: a POST without the CSRF token, or from another origin, changes nothing (403); with both it cancels (303)",
  async ({ backend }) => {
    const runs = await makeRuns(backend);
    const dashboard = dashboardOf(backend);
    const cookie = await signIn(dashboard);
    const csrf = await csrfOf(dashboard, cookie, `/runs/${runs.sleeping}`);
    const path = `/runs/${runs.sleeping}/cancel`;
    const status = async () =>
      (await backend.getWorkflowRun({ workflowRunId: runs.sleeping }))?.status;

    const bare = await dashboard(post(path, {}, { cookie, origin: ORIGIN }));
    assert.equal(bare.status, 403);
    await bare.body?.cancel();
    assert.equal(await status(), "sleeping");

    const crossSite = await dashboard(
      post(path, { csrf }, { cookie, origin: "https://evil.test" }),
    );
    assert.equal(crossSite.status, 403);
    await crossSite.body?.cancel();
    assert.equal(await status(), "sleeping");

    const noOrigin = await dashboard(post(path, { csrf }, { cookie }));
    assert.equal(noOrigin.status, 403);
    await noOrigin.body?.cancel();

    const wrongToken = await dashboard(
      post(path, { csrf: `${csrf}x` }, { cookie, origin: ORIGIN }),
    );
    assert.equal(wrongToken.status, 403);
    await wrongToken.body?.cancel();
    assert.equal(await status(), "sleeping");

    const ok = await dashboard(
      post(path, { csrf }, { cookie, origin: ORIGIN }),
    );
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get("location"), `/runs/${runs.sleeping}`);
    assert.equal(await status(), "canceled");
  },
);

testEachBackend(
  "dashboard: run pages show status, timing, steps, errors and buttons; retry and fork redirect as they should",
  async ({ backend }) => {
    const runs = await makeRuns(backend);
    const dashboard = dashboardOf(backend);
    const cookie = await signIn(dashboard);
    const page = async (id: string) =>
      await (await dashboard(get(`/runs/${id}`, { cookie }))).text();

    const failed = await page(runs.failed);
    assert.match(failed, /<h1>broken<\/h1>/);
    assert.match(
      failed,
      /<span data-testid="run-status" data-status="failed">failed<\/span>/,
    );
    assert.match(failed, /<ol class="timeline" aria-label="Step timeline">/);
    assert.match(failed, /<li data-status="failed">/);
    assert.match(failed, /<rect class="span" x="[\d.]+" y="0" width="[\d.]+"/);
    assert.match(failed, /Error: &lt;b&gt;boom&lt;\/b&gt;/);
    assert.match(failed, /<pre aria-label="Stack"/);
    assert.match(failed, />Retry run<\/button>/);
    assert.match(failed, />Fork run<\/button>/);
    assert.doesNotMatch(failed, />Cancel run<\/button>/);

    const sleeping = await page(runs.sleeping);
    assert.match(sleeping, />Cancel run<\/button>/);
    assert.doesNotMatch(sleeping, />Retry run<\/button>/);
    assert.match(sleeping, /<li data-status="succeeded">/);
    assert.match(sleeping, /data-events="\/runs\/[0-9a-f-]+\/events\?v=/);

    const ok = await page(runs.succeeded);
    assert.match(ok, /<h2>Output<\/h2>/);
    assert.match(ok, /&quot;echoed&quot;/);

    const csrf = await csrfOf(dashboard, cookie, `/runs/${runs.failed}`);
    const retried = await dashboard(
      post(`/runs/${runs.failed}/retry`, { csrf }, { cookie, origin: ORIGIN }),
    );
    assert.equal(retried.status, 303);
    assert.equal(retried.headers.get("location"), `/runs/${runs.failed}`);
    assert.equal(
      (await backend.getWorkflowRun({ workflowRunId: runs.failed }))?.status,
      "pending",
    );
    const notRetryable = await dashboard(
      post(`/runs/${runs.succeeded}/retry`, { csrf }, {
        cookie,
        origin: ORIGIN,
      }),
    );
    assert.equal(notRetryable.status, 409);
    await notRetryable.body?.cancel();

    const forked = await dashboard(
      post(`/runs/${runs.succeeded}/fork`, { csrf }, {
        cookie,
        origin: ORIGIN,
      }),
    );
    assert.equal(forked.status, 303);
    const location = forked.headers.get("location") ?? "";
    assert.match(location, /^\/runs\/[0-9a-f-]{36}$/);
    assert.notEqual(location, `/runs/${runs.succeeded}`);
    const fork = await backend.getWorkflowRun({
      workflowRunId: location.slice("/runs/".length),
    });
    assert.equal(fork?.forkedFromWorkflowRunId, runs.succeeded);

    // A bearer request (no cookie a browser sends by itself) needs no CSRF.
    const canceled = await dashboard(
      new Request(`${ORIGIN}/runs/${runs.sleeping}/cancel`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
      }),
    );
    assert.equal(canceled.status, 303);
    assert.equal(
      (await backend.getWorkflowRun({ workflowRunId: runs.sleeping }))?.status,
      "canceled",
    );
  },
);

testEachBackend(
  "dashboard: every value users wrote is HTML-escaped",
  async ({ backend }) => {
    const evil = "<script>alert(1)</script>";
    const payload = "</pre><img src=x onerror=alert(1)>";
    const runs = await makeRuns(backend, {
      workflow: evil,
      step: `<i>${payload}</i>`,
      input: { note: payload, quote: `"'&` },
    });
    const dashboard = dashboardOf(backend);
    for (
      const path of [
        "/",
        `/runs/${runs.succeeded}`,
        `/?workflow=${encodeURIComponent(evil)}`,
      ]
    ) {
      const text = await (await dashboard(bearer(path))).text();
      assert.ok(!text.includes(evil), `${path}: no raw workflow name`);
      assert.ok(!text.includes(payload), `${path}: no raw input`);
      assert.ok(!text.includes("<img"), `${path}: no injected element`);
      assert.ok(!text.includes("<i>"), `${path}: no injected step name`);
      assert.ok(text.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
    const bad = await dashboard(
      bearer(`/?status=${encodeURIComponent(evil)}`),
    );
    assert.equal(bad.status, 400);
    assert.ok(!(await bad.text()).includes(evil));
  },
);

testEachBackend(
  "dashboard: unknown and malformed run ids and unknown routes are 404",
  async ({ backend }) => {
    const dashboard = dashboardOf(backend);
    for (
      const path of [
        `/runs/${crypto.randomUUID()}`,
        "/runs/not-a-uuid",
        "/runs/%E0%A4%A",
        `/runs/${crypto.randomUUID()}/events`,
        "/runs/",
        "/nope",
      ]
    ) {
      const response = await dashboard(bearer(path));
      assert.equal(response.status, 404, path);
      assertSecurityHeaders(response, path);
      await response.body?.cancel();
    }
    const post404 = await dashboard(
      new Request(`${ORIGIN}/runs/${crypto.randomUUID()}/cancel`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
      }),
    );
    assert.equal(post404.status, 404);
    await post404.body?.cancel();
  },
);

testEachBackend(
  "dashboard: the runs list counts per status, filters, pages with a cursor, and answers bad filters with 400",
  async ({ backend }) => {
    const runs = await makeRuns(backend);
    const params = {
      version: null,
      config: {},
      context: null,
      input: null,
      availableAt: new Date(Date.now() + 3_600_000),
      deadlineAt: null,
      idempotencyKey: null,
    };
    for (let i = 0; i < 52; i++) {
      await backend.createWorkflowRun({ ...params, workflowName: "bulk" });
    }
    const dashboard = dashboardOf(backend);
    const text = async (path: string) =>
      await (await dashboard(bearer(path))).text();
    const rows = (page: string) =>
      [...page.matchAll(
        /<tr>\s*<td><a href="\/runs\/([0-9a-f-]{36})"><code>\1<\/code><\/a><\/td>/g,
      )]
        .map((m) => m[1]);

    const all = await text("/");
    assert.match(all, /<h1>Runs<\/h1>/);
    assert.match(all, /<caption>Runs<\/caption>/);
    assert.match(all, />pending 52<\/a>/);
    assert.match(all, />failed 1<\/a>/);
    assert.match(all, />succeeded 1<\/a>/);
    assert.match(all, />sleeping 1<\/a>/);
    assert.match(all, /<label for="filter-status">Status/);
    assert.match(all, /<option value="any" selected>any<\/option>/);
    assert.match(all, /<button type="submit">Apply filters<\/button>/);
    assert.equal(rows(all).length, 50);
    assert.match(all, /<td data-status="pending">pending<\/td>/);

    const next = /<a href="([^"]+)" rel="next">Next page<\/a>/.exec(all);
    assert.ok(next !== null, "a next page link");
    const second = await text(next[1].replaceAll("&amp;", "&"));
    assert.equal(rows(second).length, 5);
    assert.doesNotMatch(second, /Next page/);
    assert.equal(new Set([...rows(all), ...rows(second)]).size, 55);

    const filtered = await text("/?status=pending&workflow=bulk");
    assert.equal(rows(filtered).length, 50);
    const filteredNext = /<a href="([^"]+)" rel="next">Next page<\/a>/.exec(
      filtered,
    );
    assert.ok(filteredNext !== null);
    assert.match(filteredNext[1], /status=pending/);
    assert.match(filteredNext[1], /workflow=bulk/);
    assert.equal(
      rows(await text(filteredNext[1].replaceAll("&amp;", "&"))).length,
      2,
    );

    const failed = await text("/?status=failed");
    assert.deepEqual(rows(failed), [runs.failed]);
    assert.match(failed, /<option value="failed" selected>failed<\/option>/);
    assert.deepEqual(rows(await text("/?workflow=greet")), [runs.succeeded]);

    const future = new Date(Date.now() + 86_400_000).toISOString().slice(0, 16);
    assert.deepEqual(rows(await text(`/?createdAfter=${future}`)), []);
    assert.equal(rows(await text(`/?createdBefore=${future}`)).length, 50);

    for (
      const bad of [
        "/?status=bogus",
        "/?createdAfter=yesterday",
        "/?createdBefore=2024-13-45T99:99",
        "/?cursor=garbage",
      ]
    ) {
      const response = await dashboard(bearer(bad));
      assert.equal(response.status, 400, bad);
      assert.match(await response.text(), /<h1>Bad request<\/h1>/);
    }
  },
);

testEachBackend(
  "dashboard: schedules are listed and paused and resumed with a POST",
  async ({ backend }) => {
    const { OpenWorkflow } = await import("../../mod.ts");
    const ow = new OpenWorkflow({ backend });
    const report = ow.defineWorkflow({ name: "report" }, () => "done");
    await ow.createSchedule({
      id: "nightly <report>",
      workflow: report,
      cron: "0 3 * * *",
      timezone: "UTC",
    });
    const dashboard = dashboardOf(backend);
    const cookie = await signIn(dashboard);
    const page = await (await dashboard(get("/schedules", { cookie }))).text();
    assert.match(page, /<h1>Schedules<\/h1>/);
    assert.match(page, /<caption>Schedules<\/caption>/);
    assert.match(page, /nightly &lt;report&gt;/);
    assert.match(page, /<button type="submit">Pause<\/button>/);
    const csrf = await csrfOf(dashboard, cookie, "/schedules");
    const path = `/schedules/${encodeURIComponent("nightly <report>")}`;
    const refused = await dashboard(
      post(`${path}/pause`, {}, { cookie, origin: ORIGIN }),
    );
    assert.equal(refused.status, 403);
    await refused.body?.cancel();
    assert.equal((await ow.getSchedule("nightly <report>"))?.paused, false);
    const paused = await dashboard(
      post(`${path}/pause`, { csrf }, { cookie, origin: ORIGIN }),
    );
    assert.equal(paused.status, 303);
    assert.equal((await ow.getSchedule("nightly <report>"))?.paused, true);
    const after = await (await dashboard(get("/schedules", { cookie }))).text();
    assert.match(after, /<button type="submit">Resume<\/button>/);
    const resumed = await dashboard(
      post(`${path}/resume`, { csrf }, { cookie, origin: ORIGIN }),
    );
    assert.equal(resumed.status, 303);
    assert.equal((await ow.getSchedule("nightly <report>"))?.paused, false);
  },
);
