import assert from "node:assert/strict";
import { LogWriteError } from "../../src/store/mod.ts";
import { PostgresEventLog } from "../../src/store/postgres/mod.ts";
import { pgTest } from "./_pg.ts";

function taskOk(i: number) {
  return {
    v: 1,
    timestamp: new Date(Date.UTC(2026, 4, 1, 10, 0, 0, i)).toISOString(),
    event: "task_ok",
    run_id: `run-${i % 3}`,
    dag_name: "d",
    tenant_id: "t",
    task_id: `task_${i}`,
    attempt: 1,
    duration_s: 0.001,
    output: { i, text: `line "${i}"\n` },
  };
}

pgTest(
  "PostgresEventLog stores a turn's appends with one multi-row INSERT, in order",
  async ({ sql }) => {
    const log = new PostgresEventLog(sql);
    await log.open();
    const records = Array.from({ length: 1000 }, (_, i) => taskOk(i));
    for (const r of records) log.append(r);
    await log.flush();
    const rows = await sql<{ run_id: string; event: string; ts: Date; body: object }[]>`
    select run_id, event, ts, body from events order by id`;
    assert.equal(rows.length, 1000);
    assert.deepEqual(rows.map((r) => r.body), records);
    assert.deepEqual(rows[4], {
      run_id: "run-1",
      event: "task_ok",
      ts: new Date(records[4].timestamp),
      body: records[4],
    });
    const [{ n }] = await sql`select count(distinct xmin::text)::int as n from events`;
    assert.equal(n, 1, "one statement, one transaction");
    await log.close();
  },
);

pgTest(
  "PostgresEventLog keeps order across turns and stamps records without a timestamp",
  async ({ sql }) => {
    const log = new PostgresEventLog(sql);
    for (let i = 0; i < 20; i++) {
      log.append({ event: "task_log", n: i }, { event: "task_log", n: i + 0.5 });
      if (i % 3 === 0) await Promise.resolve();
      if (i % 7 === 0) await log.flush();
    }
    await log.close();
    const rows = await sql<{ body: { n: number }; run_id: null; ts: Date }[]>`
    select body, run_id, ts from events order by id`;
    assert.deepEqual(rows.map((r) => r.body.n), Array.from({ length: 40 }, (_, i) => i / 2));
    assert.equal(rows[0].run_id, null);
    assert.ok(Math.abs(rows[0].ts.getTime() - Date.now()) < 60_000);
  },
);

pgTest("PostgresEventLog rejects every flush after a failed INSERT", async ({ sql }) => {
  const log = new PostgresEventLog(sql, { path: "pg:test" });
  log.append(taskOk(1));
  await log.flush();
  await sql`drop table events`;
  log.append(taskOk(2));
  await assert.rejects(log.flush(), (err: unknown) => {
    assert.ok(err instanceof LogWriteError);
    assert.match(err.message, /^Cannot write log "pg:test": relation "events" does not exist/);
    return true;
  });
  log.append(taskOk(3));
  await assert.rejects(log.close(), LogWriteError);
});

pgTest("PostgresEventLog.open() fails before any work on an unmigrated schema", async ({ sql }) => {
  await assert.rejects(new PostgresEventLog(sql).open(), LogWriteError);
}, { migrate: false });

pgTest("PostgresEventLog insert rate (batches of 1000 per turn)", async ({ sql }) => {
  const log = new PostgresEventLog(sql);
  const total = 50_000;
  const t0 = performance.now();
  for (let b = 0; b < total / 1000; b++) {
    for (let i = 0; i < 1000; i++) log.append(taskOk(b * 1000 + i));
    await Promise.resolve();
  }
  await log.close();
  const s = (performance.now() - t0) / 1000;
  const [{ n }] = await sql`select count(*)::int as n from events`;
  assert.equal(n, total);
  console.log(`  ${total} events in ${s.toFixed(2)} s: ${Math.round(total / s)} events/s`);
});
