/**
 * The whole product in a real browser: runs made by the real engine through `orch run`,
 * shown by `orch dashboard` (both started as CLI processes), driven in Debian's chromium.
 * Ignored when /usr/bin/chromium is missing; .ci/run installs it.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { orch, sandbox } from "../helpers/cli.ts";
import { startDashboard } from "../helpers/dashboard.ts";
import { CHROMIUM, HAS_CHROMIUM, nodeStatuses as statuses, shot } from "../helpers/browser.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";

Deno.test({
  name: "orch dashboard shows real engine runs in chromium: graph, statuses, live, escaping" +
    (HAS_CHROMIUM ? "" : " (ignored: /usr/bin/chromium missing)"),
  ignore: !HAS_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const sb = await sandbox();
    for (const f of ["echo.ts", "fail.ts", "sleep.ts"]) {
      await Deno.copyFile(`${FIXTURE_WORKFLOWS}/${f}`, `${sb.workflows}/${f}`);
    }
    await sb.write(
      "workflows/xss.ts",
      `export default { run: () => ({ html: "<img src=x onerror=alert(1)>", ` +
        `script: "<script>window.__xss=1</script>" }) };\n`,
    );
    const failing = await sb.write(
      "failing.yaml",
      dagYaml("failing_dag", [
        { id: "render", workflow_ref: "xss" },
        { id: "publish", workflow_ref: "fail", depends_on: ["render"] },
        { id: "notify", workflow_ref: "echo", depends_on: ["publish"] },
      ]),
    );
    const live = await sb.write(
      "live.yaml",
      dagYaml("live_dag", [
        { id: "wait", workflow_ref: "sleep", params: { ms: 2500 } },
        { id: "after", workflow_ref: "echo", depends_on: ["wait"] },
      ]),
    );
    const first = await orch(["run", "--dag", failing, "--json"], { cwd: sb.dir, env: sb.env });
    assert.equal(first.code, 1, first.stderr);
    const failedRunId = JSON.parse(first.stdout).run_id as string;

    const dash = await startDashboard(sb.dir, sb.env);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
    });
    const dialogs: string[] = [];
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      page.on("dialog", (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });

      await t.step(
        "the run made by the engine is listed and its graph has the right statuses",
        async () => {
          await page.goto(dash.url);
          await page.waitForSelector(`tr.run-row[data-run-id="${failedRunId}"]`, {
            timeout: 10_000,
          });
          await page.click(`tr.run-row[data-run-id="${failedRunId}"] td:nth-child(3)`);
          await page.waitForSelector("svg.graph g.node", { timeout: 5000 });
          assert.deepEqual(await statuses(page), {
            render: "success",
            publish: "failed",
            notify: "skipped",
          });
          assert.equal(await page.locator("svg.graph path.edge").count(), 2);
        },
      );

      await t.step("markup in a task output shows as text and never runs", async () => {
        await page.click('details.task[data-task-id="render"] summary');
        const out = await page.textContent('details.task[data-task-id="render"] pre.output');
        assert.match(out!, /<img src=x onerror=alert\(1\)>/);
        assert.equal(await page.locator("details.task img").count(), 0);
        assert.equal(
          await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss),
          undefined,
        );
        assert.deepEqual(dialogs, []);
        await shot(page, "engine_run_failed.png");
      });

      await t.step("a run in progress appears and updates live", async () => {
        await page.goto(dash.url);
        await page.waitForSelector("#live.on", { timeout: 5000 });
        const running = orch(["run", "--dag", live, "--json"], { cwd: sb.dir, env: sb.env });
        const row = await page.waitForSelector('tr.run-row:has-text("live_dag")', {
          timeout: 10_000,
        });
        const runId = await row.getAttribute("data-run-id");
        await page.goto(new URL(`/runs/${runId}`, dash.url).href);
        await page.waitForSelector('svg.graph g.node[data-task-id="wait"][data-status="running"]', {
          timeout: 10_000,
        });
        await shot(page, "engine_run_live.png");
        await page.waitForSelector(
          'svg.graph g.node[data-task-id="after"][data-status="success"]',
          {
            timeout: 15_000,
          },
        );
        assert.equal((await running).code, 0);
        assert.deepEqual(await statuses(page), { wait: "success", after: "success" });
      });
    } finally {
      await browser.close();
      dash.child.kill("SIGTERM");
      const status = await dash.child.status;
      await dash.drain;
      await sb.cleanup();
      assert.equal(status.code, 0, "dashboard exits 0 on SIGTERM");
    }
  },
});
