import assert from "node:assert/strict";
import { isLoopbackHost, serveDashboard } from "../../src/dashboard/mod.ts";
import { fixtureDir, readUntil, RUN } from "./_helpers.ts";

/** GETs /api/info over a raw socket with a chosen Host header (fetch does not let us set it). */
async function rawGet(port: number, host: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET /api/info HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    let text = "";
    for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) text += chunk;
    return text;
  } catch (err) {
    conn.close();
    throw err;
  }
}

Deno.test("serveDashboard() serves the API and shuts down with an SSE stream open", async () => {
  const fx = await fixtureDir();
  const warnings: string[] = [];
  const server = await serveDashboard({
    port: 0,
    paths: { eventsPath: fx.eventsPath, statePath: fx.statePath },
    warn: (m) => warnings.push(m),
  });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.deepEqual(warnings, []);
    const runs = await (await fetch(new URL("/api/runs", server.url))).json();
    assert.equal(runs.runs[0].run_id, RUN.running);
    assert.match(await rawGet(server.addr.port, "evil.example:8787"), /^HTTP\/1\.1 421 /);
    assert.match(await rawGet(server.addr.port, "localhost:8787"), /^HTTP\/1\.1 200 /);
    const page = await fetch(server.url);
    assert.match(await page.text(), /<script type="module" src="\/assets\/app.js">/);
    const sse = await fetch(new URL("/api/events", server.url));
    const reader = sse.body!.pipeThrough(new TextDecoderStream()).getReader();
    await readUntil(reader, /: connected/);
    const t0 = performance.now();
    await server.shutdown();
    assert.ok(performance.now() - t0 < 2000, "shutdown does not wait for the SSE stream");
    while (!(await reader.read()).done) { /* drain */ }
    await server.finished;
  } finally {
    await server.shutdown();
    await fx.cleanup();
  }
});

Deno.test("serveDashboard() warns when binding a public host without a token", async (t) => {
  const fx = await fixtureDir();
  const paths = { eventsPath: fx.eventsPath, statePath: fx.statePath };
  try {
    await t.step("public host, no token: warns", async () => {
      const warnings: string[] = [];
      const server = await serveDashboard({
        host: "0.0.0.0",
        port: 0,
        paths,
        warn: (m) => warnings.push(m),
      });
      await server.shutdown();
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /"0\.0\.0\.0" without ORCH_DASHBOARD_TOKEN/);
    });
    await t.step("public host with a token: silent", async () => {
      const warnings: string[] = [];
      const server = await serveDashboard({
        host: "0.0.0.0",
        port: 0,
        paths,
        token: "t",
        warn: (m) => warnings.push(m),
      });
      await server.shutdown();
      assert.deepEqual(warnings, []);
    });
  } finally {
    await fx.cleanup();
  }
});

Deno.test("isLoopbackHost() knows loopback names", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) {
    assert.ok(isLoopbackHost(h), h);
  }
  for (const h of ["0.0.0.0", "::", "10.0.0.1", "example.com"]) assert.ok(!isLoopbackHost(h), h);
});
