import assert from "node:assert/strict";
import { createDashboard } from "../../src/dashboard/mod.ts";
import { ManualClock } from "../../src/lib/mod.ts";
import { PostgresRunSource } from "../../src/store/postgres/dashboard_source.ts";
import { importLogs } from "../../src/store/postgres/import.ts";
import { PostgresEventLog } from "../../src/store/postgres/mod.ts";
import { type PgScope, pgTest } from "../postgres/_pg.ts";
import { etlEvent, fixtureApp, fixtureDir, getJson, NOW, RUN } from "./_helpers.ts";

/** Parses exposition text into `name{labels}` → value, checking the line grammar. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const types = new Set<string>();
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("# HELP ")) continue;
    const type = /^# TYPE (\w+) (counter|gauge|histogram)$/.exec(line);
    if (type) {
      assert.ok(!types.has(type[1]), `duplicate TYPE ${type[1]}`);
      types.add(type[1]);
      continue;
    }
    const m = /^([a-zA-Z_:][\w:]*)(\{(?:[a-zA-Z_]\w*="(?:[^"\\]|\\.)*",?)*\})? (-?[\d.e+-]+|\+Inf)$/
      .exec(line);
    assert.ok(m, `bad metric line: ${line}`);
    out.set(m[1] + (m[2] ?? ""), Number(m[3]));
  }
  return out;
}

Deno.test("GET /metrics renders Prometheus text from both logs", async () => {
  const { app, done } = await fixtureApp();
  try {
    const res = await app.fetch(new Request("http://x/metrics"));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.ok(text.endsWith("\n"));
    const m = parse(text);
    assert.equal(m.get('orch_runs{status="running"}'), 1);
    assert.equal(m.get('orch_runs{status="success"}'), 1);
    assert.equal(m.get('orch_runs{status="failed"}'), 1);
    assert.equal(m.get('orch_runs{status="interrupted"}'), 1);
    assert.equal(m.get("orch_runs_in_progress"), 1);
    assert.equal(m.get('orch_task_attempts_total{status="success"}'), 4);
    assert.equal(m.get('orch_task_attempts_total{status="failed"}'), 2);
    assert.equal(m.get('orch_task_attempts_total{status="skipped"}'), 1);
    assert.equal(m.get('orch_task_duration_seconds_count{status="success"}'), 4);
    assert.equal(m.get('orch_task_duration_seconds_bucket{status="success",le="1"}'), 2);
    assert.equal(m.get('orch_task_duration_seconds_bucket{status="success",le="+Inf"}'), 4);
    assert.equal(m.get('orch_task_duration_seconds_sum{status="failed"}'), 0.98);
    // Scheduler lag: minute 09:00:00.000Z → run_started 09:00:00.050Z.
    assert.equal(m.get('orch_scheduler_lag_seconds_count{schedule_id="weekly_ops"}'), 1);
    assert.equal(m.get('orch_scheduler_lag_seconds_sum{schedule_id="weekly_ops"}'), 0.05);
    assert.equal(m.get('orch_scheduler_lag_seconds_bucket{schedule_id="weekly_ops",le="0.5"}'), 1);
    assert.equal(
      m.get("orch_scheduler_last_tick_timestamp_seconds"),
      Date.parse("2026-03-01T09:05:00.010Z") / 1000,
    );
    assert.equal(m.get('orch_dashboard_corrupt_lines{file="events"}'), 1);
    assert.equal(m.get('orch_dashboard_log_lines{file="state"}'), 6);
  } finally {
    await done();
  }
});

Deno.test("GET /metrics histogram buckets are cumulative", async () => {
  const { app, done } = await fixtureApp();
  try {
    const m = parse(await (await app.fetch(new Request("http://x/metrics"))).text());
    const buckets = [...m].filter(([k]) =>
      k.startsWith('orch_task_duration_seconds_bucket{status="success"')
    );
    const values = buckets.map(([, v]) => v);
    assert.deepEqual(values, [...values].sort((a, b) => a - b));
  } finally {
    await done();
  }
});

const NEWEST = "20260301T120000000Z-ffff0006";

/**
 * The fixture logs plus a newer run (the newest by `run_started`), imported into a
 * PostgreSQL store, with a JSONL dashboard on the files and a PostgreSQL one that loads
 * only the newest run at first (`firstRuns: 1`): its `/metrics` must still count every run.
 */
async function bothApps(scope: PgScope) {
  const fx = await fixtureDir();
  const at = "2026-03-01T12:00:00.000Z";
  await Deno.writeTextFile(
    fx.statePath,
    JSON.stringify({ v: 1, timestamp: at, event: "run_started", run_id: NEWEST, dag_name: "etl" }) +
      "\n",
    { append: true },
  );
  await fx.appendEvents(
    { ...etlEvent(NEWEST, "dag_start", { tasks: 1 }), timestamp: at },
    etlEvent(NEWEST, "task_ok", { task_id: "extract", attempt: 1, duration_s: 0.5 }),
  );
  await importLogs(scope.sql, {
    schema: scope.schema,
    description: "test",
    eventsPath: fx.eventsPath,
    statePath: fx.statePath,
  });
  const clock = new ManualClock(NOW);
  const jsonl = createDashboard({ paths: fx, clock });
  const pg = createDashboard({ source: new PostgresRunSource(scope.sql, { firstRuns: 1 }), clock });
  return {
    jsonl,
    pg,
    async done() {
      await jsonl.close();
      await pg.close();
      await fx.cleanup();
    },
  };
}

async function metricsOf(app: { fetch(r: Request): Promise<Response> }) {
  const res = await app.fetch(new Request("http://x/metrics"));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  return parse(await res.text());
}

pgTest("GET /metrics on PostgreSQL counts the whole store as the JSONL logs do", async (scope) => {
  const { jsonl, pg, done } = await bothApps(scope);
  try {
    const { body } = await getJson(pg, "/api/runs?limit=1");
    assert.equal(body.runs[0].run_id, NEWEST);
    assert.equal(pg.store.index.size, 1, "the index holds the newest run only");
    const want = await metricsOf(jsonl);
    const got = await metricsOf(pg);
    // The import skips the fixture's one torn line, which the JSONL dashboard counts.
    assert.equal(want.get('orch_dashboard_corrupt_lines{file="events"}'), 1);
    want.set('orch_dashboard_corrupt_lines{file="events"}', 0);
    assert.deepEqual(got, want);
    assert.equal(got.get('orch_runs{status="running"}'), 2);
    assert.equal(got.get('orch_runs{status="failed"}'), 1);
    assert.equal(got.get('orch_runs{status="interrupted"}'), 1);
    assert.equal(got.get('orch_task_attempts_total{status="success"}'), 5);
    assert.equal(got.get('orch_task_attempts_total{status="failed"}'), 2);
    assert.equal(got.get('orch_scheduler_lag_seconds_sum{schedule_id="weekly_ops"}'), 0.05);
    assert.equal(got.get('orch_dashboard_log_lines{file="state"}'), 7);
    assert.equal(pg.store.index.size, 1, "/metrics loaded no run");
  } finally {
    await done();
  }
});

pgTest("GET /metrics on PostgreSQL counts rows written by others since", async (scope) => {
  const { pg, done } = await bothApps(scope);
  try {
    const before = await metricsOf(pg);
    const log = new PostgresEventLog(scope.sql);
    log.append(
      etlEvent(RUN.running, "task_ok", { task_id: "extract", attempt: 1, duration_s: 0.1 }),
      etlEvent(RUN.running, "dag_done", { status: "cancelled" }),
      etlEvent("20260301T130000000Z-eeee0007", "task_fail", { duration_s: 2.5, task_id: "x" }),
    );
    await log.flush();
    const after = await metricsOf(pg);
    const delta = (k: string) => after.get(k)! - (before.get(k) ?? 0);
    assert.equal(delta('orch_runs{status="running"}'), 0); // one ended, one began
    assert.equal(delta('orch_runs{status="cancelled"}'), 1);
    assert.equal(delta('orch_task_attempts_total{status="success"}'), 1);
    assert.equal(delta('orch_task_attempts_total{status="failed"}'), 1);
    // Bounds are inclusive, as in the JSONL index: 0.1 falls in le="0.1", 2.5 in le="2.5".
    assert.equal(delta('orch_task_duration_seconds_bucket{status="success",le="0.1"}'), 1);
    assert.equal(delta('orch_task_duration_seconds_bucket{status="failed",le="1"}'), 0);
    assert.equal(delta('orch_task_duration_seconds_bucket{status="failed",le="2.5"}'), 1);
    assert.equal(delta('orch_dashboard_log_lines{file="events"}'), 3);
  } finally {
    await done();
  }
});
