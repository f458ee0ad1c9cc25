import assert from "node:assert/strict";
import { fixtureApp, getJson, RUN } from "./_helpers.ts";

const ASSET_DIR = new URL("../../src/dashboard/assets/", import.meta.url);

Deno.test("Client scripts never turn data into markup", async () => {
  const sinks = /\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval)\b|new Function/;
  for await (const entry of Deno.readDir(ASSET_DIR)) {
    if (!entry.name.endsWith(".js")) continue;
    const text = await Deno.readTextFile(new URL(entry.name, ASSET_DIR));
    assert.doesNotMatch(text, sinks, entry.name);
  }
});

Deno.test("Every response carries a CSP that forbids inline scripts", async () => {
  const { app, done } = await fixtureApp();
  try {
    for (const path of ["/", `/runs/${RUN.failed}`, "/api/runs", "/assets/app.js", "/nope"]) {
      const res = await app.fetch(new Request(`http://x${path}`));
      await res.body?.cancel();
      const csp = res.headers.get("content-security-policy") ?? "";
      assert.match(csp, /script-src 'self';/, path);
      assert.doesNotMatch(csp, /unsafe-inline/, path);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    }
  } finally {
    await done();
  }
});

Deno.test("Pages are static shells: log data only travels as JSON", async () => {
  const { app, done } = await fixtureApp();
  try {
    const page = await (await app.fetch(new Request(`http://x/runs/${RUN.failed}`))).text();
    assert.doesNotMatch(page, /onerror|__xss/);
    const { res, body } = await getJson(app, `/api/runs/${RUN.failed}`);
    assert.match(res.headers.get("content-type")!, /^application\/json/);
    assert.equal(body.tasks[0].output.html, "<img src=x onerror=alert(1)>");
    const asset = await app.fetch(new Request("http://x/assets/constructor"));
    assert.equal(asset.status, 404);
    await asset.body?.cancel();
  } finally {
    await done();
  }
});
