/**
 * End to end in a real browser: Debian's chromium driven by playwright-core. Needs `-A`
 * (deno-facts §10). Skipped when /usr/bin/chromium is missing; .ci/run installs it.
 * Screenshots land in tests/artifacts/ (git-ignored).
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { CHROMIUM, HAS_CHROMIUM, nodeStatuses, shot } from "../helpers/browser.ts";
import { serveDashboard } from "../../src/dashboard/mod.ts";
import { etlEvent, fixtureDir, RUN } from "./_helpers.ts";

const TITLE = "Dashboard in chromium: runs list, run graph, live updates, escaping";

Deno.test({
  name: HAS_CHROMIUM
    ? TITLE
    : `${TITLE} (ignored: ${CHROMIUM} is missing; apt-get install chromium)`,
  ignore: !HAS_CHROMIUM,
  // playwright keeps a pipe and child processes between steps; they are closed in `finally`.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const fx = await fixtureDir();
    const server = await serveDashboard({
      port: 0,
      paths: { eventsPath: fx.eventsPath, statePath: fx.statePath },
      pollIntervalMs: 100,
      schedulesProvider: () =>
        Promise.resolve([{
          id: "weekly_ops",
          cron: "*/5 * * * *",
          timezone: "Europe/Paris",
          enabled: true,
          dag: "configs/dags/weekly_ops_chain.min.yaml",
          tenant: "local-dev",
          nextFireTimes: ["2026-03-01T11:05:00.000Z", "2026-03-01T11:10:00.000Z"],
        }]),
      workflowsProvider: () =>
        Promise.resolve([{
          name: "inbox_drive_sweep",
          description: "Inbox/drive prioritization <b>not bold</b>",
          params: { type: "object", properties: { inbox_items: { type: "string" } } },
        }]),
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
    const dialogs: string[] = [];
    const errors: string[] = [];
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      page.on("dialog", (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });

      await t.step("runs page lists the fixture runs newest first", async () => {
        await page.goto(server.url);
        await page.waitForSelector("tr.run-row", { timeout: 5000 });
        const ids = await page.$$eval(
          "tr.run-row",
          (rows) => rows.map((r) => r.getAttribute("data-run-id")),
        );
        assert.deepEqual(ids, [RUN.running, RUN.failed, RUN.scheduled, RUN.interrupted]);
        await page.waitForSelector("#live.on", { timeout: 5000 });
        await shot(page, "runs.png");
      });

      await t.step("a run appended while the page is open shows up without reload", async () => {
        const newRun = "20260301T120000000Z-eeee0005";
        await fx.appendEvents(etlEvent(newRun, "dag_start", {
          timestamp: "2026-03-01T12:00:00.000Z",
          tasks: 3,
          trigger: "manual",
          task_ids: ["extract", "transform", "load"],
          edges: [["extract", "transform"], ["transform", "load"]],
        }));
        await page.waitForSelector(`tr.run-row[data-run-id="${newRun}"]`, { timeout: 5000 });
        const first = await page.$eval("tr.run-row", (r) => r.getAttribute("data-run-id"));
        assert.equal(first, newRun);
      });

      await t.step("clicking a run shows its graph with status colours", async () => {
        await page.click(`tr.run-row[data-run-id="${RUN.failed}"] td:nth-child(3)`);
        await page.waitForSelector("svg.graph g.node", { timeout: 5000 });
        assert.equal(new URL(page.url()).pathname, `/runs/${RUN.failed}`);
        assert.deepEqual(await nodeStatuses(page), {
          extract: "success",
          transform: "failed",
          load: "skipped",
        });
        assert.equal(await page.locator("svg.graph path.edge").count(), 2);
        const fills = await page.$$eval(
          "svg.graph g.node rect",
          // deno-lint-ignore no-explicit-any
          (rects) => rects.map((r) => (globalThis as any).getComputedStyle(r).fill),
        );
        assert.deepEqual(fills, ["rgb(218, 251, 225)", "rgb(255, 235, 233)", "rgb(234, 238, 242)"]);
        assert.equal(await page.locator(".gantt-bar").count(), 3);
      });

      await t.step("log text with markup shows as text and never runs", async () => {
        await page.click('details.task[data-task-id="extract"] summary');
        const output = await page.textContent('details.task[data-task-id="extract"] pre.output');
        assert.match(output!, /<img src=x onerror=alert\(1\)>/);
        assert.match(output!, /<script>window.__xss=2<\/script>/);
        const log = await page.textContent('details.task[data-task-id="extract"] pre.log');
        assert.match(log!, /<script>window.__xss=1<\/script> read 42 rows/);
        const error = await page.textContent(
          'details.task[data-task-id="transform"] pre.error-text',
        );
        assert.equal(error, "Boom again");
        assert.equal(await page.locator("details.task img").count(), 0);
        assert.equal(
          await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss),
          undefined,
        );
        assert.deepEqual(dialogs, []);
        await shot(page, "run_failed.png");
      });

      await t.step("the run page of a running run updates live", async () => {
        await page.goto(new URL(`/runs/${RUN.running}`, server.url).href);
        await page.waitForSelector(
          'svg.graph g.node[data-task-id="extract"][data-status="running"]',
        );
        await page.waitForSelector("#live.on", { timeout: 5000 });
        await fx.appendEvents(
          etlEvent(RUN.running, "task_ok", {
            timestamp: "2026-03-01T11:00:01.210Z",
            task_id: "extract",
            attempt: 1,
            duration_s: 1.2,
            output: { rows: 42 },
          }),
          etlEvent(RUN.running, "task_start", {
            timestamp: "2026-03-01T11:00:01.220Z",
            task_id: "transform",
            attempt: 1,
            workflow_ref: "transform_rows",
          }),
        );
        await page.waitForSelector(
          'svg.graph g.node[data-task-id="transform"][data-status="running"]',
          {
            timeout: 5000,
          },
        );
        const statuses = await nodeStatuses(page);
        assert.deepEqual(statuses, { extract: "success", transform: "running", load: "pending" });
        await shot(page, "run_live.png");
      });

      await t.step("schedules and workflows pages", async () => {
        await page.click('a[data-nav="schedules"]');
        await page.waitForSelector('tr[data-schedule-id="weekly_ops"]');
        assert.match((await page.textContent('tr[data-schedule-id="weekly_ops"]'))!, /overlap/);
        await shot(page, "schedules.png");
        await page.click('a[data-nav="workflows"]');
        await page.waitForSelector('section[data-workflow="inbox_drive_sweep"]');
        assert.match((await page.textContent("section.workflow p"))!, /<b>not bold<\/b>/);
        await shot(page, "workflows.png");
      });

      assert.deepEqual(dialogs, []);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.shutdown();
      await fx.cleanup();
    }
  },
});
