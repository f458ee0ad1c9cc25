import assert from "node:assert/strict";
import { fixtureApp } from "./_helpers.ts";

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
