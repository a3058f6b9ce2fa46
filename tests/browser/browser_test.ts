/**
 * The browser tests' launcher: headless Chromium opens a page served by
 * `Deno.serve`, finds controls by their accessible names, and closes
 * without leaking a process or a resource.
 */

import assert from "node:assert/strict";
import { browserTest, launchBrowser } from "./browser.ts";

browserTest(
  null,
  "launchBrowser() opens headless Chromium, which finds controls by role and label",
  async () => {
    const server = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      () =>
        new Response(
          `<!doctype html><title>t</title><h1>Hello</h1>
          <form><label>Token <input type="password" name="token"></label>
          <button>Sign in</button></form>`,
          { headers: { "content-type": "text/html; charset=utf-8" } },
        ),
    );
    try {
      await using session = await launchBrowser();
      const page = await session.newPage();
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      assert.equal(
        await page.getByRole("heading", { level: 1 }).textContent(),
        "Hello",
      );
      await page.getByLabel("Token").fill("secret");
      assert.equal(await page.getByLabel("Token").inputValue(), "secret");
      assert.equal(
        await page.getByRole("button", { name: "Sign in" }).count(),
        1,
      );
    } finally {
      await server.shutdown();
    }
  },
);
