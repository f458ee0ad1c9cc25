import assert from "node:assert/strict";
import { join } from "node:path";
import { createDashboard } from "../../src/dashboard/mod.ts";
import { ManualClock } from "../../src/lib/mod.ts";
import { writeGeneratedLog } from "../fixtures/logs/generate.ts";
import { etlEvent, fixtureApp, getJson, RUN } from "./_helpers.ts";

Deno.test("GET /api/runs lists runs newest first with summaries joined by run_id", async () => {
  const { app, done } = await fixtureApp();
  try {
    const { status, body } = await getJson(app, "/api/runs");
    assert.equal(status, 200);
    assert.equal(body.total, 4);
    assert.deepEqual(body.runs.map((r: { run_id: string }) => r.run_id), [
      RUN.running,
      RUN.failed,
      RUN.scheduled,
      RUN.interrupted,
    ]);
    const [running, failed, scheduled, interrupted] = body.runs;
    assert.equal(running.status, "running");
    assert.equal(running.duration_s, 60);
    assert.deepEqual(running.tasks, { total: 3, success: 0, failed: 0, skipped: 0, running: 1 });
    assert.equal(failed.status, "failed");
    assert.equal(failed.tenant_id, "acme");
    assert.deepEqual(failed.tasks, { total: 3, success: 1, failed: 1, skipped: 1, running: 0 });
    assert.equal(scheduled.schedule_id, "weekly_ops");
    assert.equal(scheduled.trigger, "schedule");
    assert.equal(scheduled.duration_s, 2.91);
    // Only in the state store: a run declared dead by a later process.
    assert.equal(interrupted.status, "interrupted");
    assert.equal(interrupted.dag_name, "nightly_backup");
    assert.equal(interrupted.schedule_id, "nightly");
  } finally {
    await done();
  }
});

Deno.test("GET /api/runs filters by status, dag, schedule and tenant, and pages", async (t) => {
  const { app, done } = await fixtureApp();
  try {
    const cases: [string, string[]][] = [
      ["status=failed", [RUN.failed]],
      ["status=running", [RUN.running]],
      ["dag=etl", [RUN.running, RUN.failed]],
      ["schedule=weekly_ops", [RUN.scheduled]],
      ["tenant=local-dev", [RUN.scheduled, RUN.interrupted]],
      ["dag=etl&status=success", []],
      ["limit=2", [RUN.running, RUN.failed]],
      ["limit=2&offset=2", [RUN.scheduled, RUN.interrupted]],
    ];
    for (const [query, ids] of cases) {
      await t.step(query, async () => {
        const { body } = await getJson(app, `/api/runs?${query}`);
        assert.deepEqual(body.runs.map((r: { run_id: string }) => r.run_id), ids);
      });
    }
    await t.step("a bad limit is a 400", async () => {
      const { status, body } = await getJson(app, "/api/runs?limit=-1");
      assert.equal(status, 400);
      assert.equal(body.error.code, "bad_query");
    });
  } finally {
    await done();
  }
});

Deno.test("GET /api/runs/:id returns tasks, attempts, graph and events", async () => {
  const { app, done } = await fixtureApp();
  try {
    const { status, body } = await getJson(app, `/api/runs/${RUN.failed}`);
    assert.equal(status, 200);
    assert.equal(body.run.status, "failed");
    assert.deepEqual(
      body.tasks.map((t: { task_id: string; status: string }) => [t.task_id, t.status]),
      [
        ["extract", "success"],
        ["transform", "failed"],
        ["load", "skipped"],
      ],
    );
    const transform = body.tasks[1];
    assert.deepEqual(
      transform.attempts.map((
        a: { attempt: number; status: string; error: string },
      ) => [a.attempt, a.status, a.error]),
      [[1, "failed", 'Boom <img src=x onerror="window.__xss=3">'], [2, "failed", "Boom again"]],
    );
    assert.equal(transform.error, "Boom again");
    assert.equal(body.tasks[2].skip_reason, "upstream_failed");
    assert.equal(body.tasks[0].output.html, "<img src=x onerror=alert(1)>");
    assert.equal(body.tasks[0].logs.length, 1);
    assert.deepEqual(body.tasks[0].params, { source: "<b>db</b>" });
    assert.deepEqual(
      body.graph.nodes.map((
        n: { id: string; level: number; status: string },
      ) => [n.id, n.level, n.status]),
      [["extract", 0, "success"], ["transform", 1, "failed"], ["load", 2, "skipped"]],
    );
    assert.deepEqual(body.graph.edges.map((e: { from: string; to: string }) => [e.from, e.to]), [
      ["extract", "transform"],
      ["transform", "load"],
    ]);
    assert.equal(body.graph.edges_known, true);
    assert.equal(body.events.length, 11);
    assert.equal(body.events[0].event, "dag_start");
  } finally {
    await done();
  }
});

Deno.test("GET /api/runs/:id merges state-store events and answers 404 for unknown runs", async () => {
  const { app, done } = await fixtureApp();
  try {
    const { body } = await getJson(app, `/api/runs/${RUN.scheduled}`);
    assert.deepEqual(body.events.map((e: { event: string }) => e.event).slice(0, 3), [
      "run_started",
      "dag_start",
      "task_start",
    ]);
    assert.equal(body.events.at(-1).event, "run_finished");
    const missing = await getJson(app, "/api/runs/nope");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, "run_not_found");
  } finally {
    await done();
  }
});

Deno.test("GET /api/info counts the torn fixture line as corrupt", async () => {
  const { app, done } = await fixtureApp();
  try {
    const { body } = await getJson(app, "/api/info");
    assert.equal(body.read_only, true);
    assert.equal(body.files.events.corrupt, 1);
    assert.equal(body.files.events.lines, 22);
    assert.equal(body.runs, 4);
  } finally {
    await done();
  }
});

Deno.test("GET /api/runs picks up appended lines incrementally", async () => {
  const { app, fx, done } = await fixtureApp();
  try {
    await getJson(app, "/api/runs");
    const before = (await getJson(app, "/api/info")).body.files.events.offset;
    await fx.appendEvents(
      etlEvent(RUN.running, "task_ok", {
        task_id: "extract",
        attempt: 1,
        duration_s: 1,
        output: {},
      }),
    );
    await fx.appendEvents('{"v":1,"event":"task_start","run_id":"' + RUN.running); // partial
    const { body } = await getJson(app, `/api/runs?status=running`);
    assert.equal(body.runs[0].tasks.success, 1);
    const info = (await getJson(app, "/api/info")).body.files.events;
    assert.ok(info.offset > before);
    assert.ok(info.pendingBytes > 0);
    assert.equal(info.corrupt, 1);
  } finally {
    await done();
  }
});

Deno.test("GET /api/runs stays fast over a generated 100k-line log", async () => {
  const dir = await Deno.makeTempDir({ prefix: "orch_dash_100k_" });
  const eventsPath = join(dir, "events.jsonl");
  const runs = await writeGeneratedLog(eventsPath, 100_000);
  const app = createDashboard({
    paths: { eventsPath, statePath: join(dir, "missing.jsonl") },
    clock: new ManualClock(new Date("2026-06-01T00:00:00Z")),
  });
  try {
    const first = await getJson(app, "/api/runs?limit=50");
    assert.equal(first.body.total, runs);
    assert.equal(first.body.runs.length, 50);
    assert.equal(first.body.runs[0].run_id, `run-${String(runs - 1).padStart(7, "0")}`);
    const t0 = performance.now();
    const page = await getJson(app, "/api/runs?status=failed&offset=100&limit=50");
    const failedDetail = await getJson(app, `/api/runs/${page.body.runs[0].run_id}`);
    const ms = performance.now() - t0;
    assert.equal(page.body.runs.length, 50);
    assert.equal(failedDetail.body.tasks[3].attempts.length, 2);
    assert.ok(ms < 200, `page + detail took ${ms.toFixed(1)} ms`);
  } finally {
    await app.close();
    await Deno.remove(dir, { recursive: true });
  }
});
