import assert from "node:assert/strict";
import { migrate, MIGRATIONS, migrationStatus } from "../../src/store/postgres/mod.ts";
import { claimNext } from "../../src/store/postgres/cluster/claim.ts";
import { completeAndClaim, endOf } from "../../src/store/postgres/cluster/complete.ts";
import { pgTest, runScript } from "./_pg.ts";

const ALL = MIGRATIONS.map((m) => m.version);
const TABLES = [
  "events",
  "leader",
  "orch_migrations",
  "run_tasks",
  "runs",
  "schedule_minutes",
  "state_events",
  "task_queue",
  "watermarks",
];

function runCliChild(args: string[], env: Record<string, string> = {}) {
  return runScript("./_cli_child.ts", args, { ORCH_STORE: "", ...env });
}

pgTest("migrate() creates the schema once and is idempotent", async ({ sql, schema }) => {
  const before = await migrationStatus(sql, { schema });
  assert.deepEqual(before.applied, []);
  assert.deepEqual(before.pending.map((m) => m.version), MIGRATIONS.map((m) => m.version));
  assert.deepEqual(await migrate(sql, { schema }), MIGRATIONS.map((m) => m.version));
  assert.deepEqual(await migrate(sql, { schema }), []);
  const after = await migrationStatus(sql, { schema });
  assert.deepEqual(after.applied.map((m) => m.version), MIGRATIONS.map((m) => m.version));
  assert.deepEqual(after.pending, []);
  const tables = await sql<{ table_name: string }[]>`select table_name
    from information_schema.tables where table_schema = ${schema} order by table_name`;
  assert.deepEqual(tables.map((r) => r.table_name), TABLES);
}, { migrate: false });

pgTest("deleting a run deletes its cluster rows, and only its own", async ({ sql }) => {
  for (const run of ["r1", "r2"]) {
    await sql`insert into runs (run_id, dag_name) values (${run}, 'd')`;
    await sql`insert into run_tasks (run_id, idx, task_id, waiting, spec, ups, downs)
      values (${run}, 0, 'a', 0, '{}', null, '{1}'), (${run}, 1, 'b', 1, '{}', '{0}', null)`;
    await sql`insert into task_queue (run_id, idx, task_id) values (${run}, 0, 'a')`;
  }
  await sql`delete from runs where run_id = 'r1'`;
  const left = await sql<{ t: string; run_id: string }[]>`
    select 'run_tasks' as t, run_id from run_tasks union all
    select 'task_queue', run_id from task_queue order by 1, 2`;
  assert.deepEqual(left.map((r) => `${r.t}:${r.run_id}`), [
    "run_tasks:r2",
    "run_tasks:r2",
    "task_queue:r2",
  ]);
});

pgTest(
  "migration 6 moves the edges of unfinished runs into run_tasks, and their runs complete",
  async ({ sql, schema }) => {
    await migrate(sql, { schema, migrations: MIGRATIONS.filter((m) => m.version <= 5) });
    // A running cluster run as version 5 left it: a -> c, b -> c (c lists b first), a done.
    await sql`insert into runs (run_id, dag_name, status, mode, remaining, spec, sources)
      values ('live', 'd', 'running', 'cluster', 2, '{"dag_name": "d", "tenant_id": "t"}',
        '[{"kind": "builtin", "name": "fake"}]'),
      ('old', 'd', 'success', 'cluster', 0, '{}', null)`;
    const spec = `{"source_ix": 0, "workflow_ref": "fake", "params": {}, "retries": 0,
      "retry_delay_s": 0}`;
    await sql`insert into run_tasks (run_id, idx, task_id, state, waiting, attempts, spec, output)
      values ('live', 0, 'a', 'success', 0, 1, ${spec}::text::jsonb, '{"n": 1}'),
        ('live', 1, 'b', 'queued', 0, 1, ${spec}::text::jsonb, null),
        ('live', 2, 'c', 'pending', 1, 0, ${spec}::text::jsonb, null),
        ('old', 0, 'x', 'success', 0, 1, '{}', '{}'), ('old', 1, 'y', 'success', 0, 1, '{}', '{}')`;
    await sql`insert into run_edges (run_id, up_idx, down_idx, pos)
      values ('live', 0, 2, 1), ('live', 1, 2, 0), ('old', 0, 1, 0)`;
    await sql`insert into task_queue (run_id, idx, task_id) values ('live', 1, 'b')`;

    assert.deepEqual(await migrate(sql, { schema }), [6, 7]);
    const rows = await sql<{ run_id: string; idx: number; ups: number[]; downs: number[] }[]>`
      select run_id, idx, ups, downs from run_tasks order by run_id, idx`;
    assert.deepEqual(rows.map((r) => [r.run_id, r.idx, r.ups, r.downs]), [
      ["live", 0, null, [2]],
      ["live", 1, null, [2]],
      ["live", 2, [1, 0], null],
      ["old", 0, null, null], // ended runs are left as they were
      ["old", 1, null, null],
    ]);
    const [{ edges }] = await sql`select to_regclass('run_edges') is null as edges`;
    assert.equal(edges, true);
    const [{ options }] = await sql`select reloptions as options from pg_class
      where oid = 'run_tasks'::regclass`;
    assert.deepEqual(options, ["fillfactor=70"]);

    // The run goes on with the new functions: b's end makes c ready, with both outputs.
    const db = { sql, schema };
    const opts = { worker: "w", lostMs: 10_000 };
    const [b] = (await claimNext(sql, { ...opts, limit: 5 })).claimed;
    assert.equal(b.job.taskId, "b");
    const at = Date.now();
    const ok = (output: Record<string, unknown>) => ({
      ok: true as const,
      output,
      outputJson: JSON.stringify(output),
      startedAt: at,
      endedAt: at,
    });
    const next = await completeAndClaim(db, [endOf(b, ok({ n: 2 }))], { ...opts, claim: 5 });
    assert.deepEqual(next.claimed.map((c) => [c.job.taskId, c.job.upstream]), [
      ["c", [["b", '{"n": 2}'], ["a", '{"n": 1}']]],
    ]);
    const end = await completeAndClaim(db, [endOf(next.claimed[0], ok({}))], {
      ...opts,
      claim: 5,
    });
    assert.deepEqual(end.finished, [{ runId: "live", status: "success" }]);
  },
  { migrate: false },
);

pgTest("migrate() rolls back a failing version alone and reports it", async ({ sql, schema }) => {
  const broken = [
    ...MIGRATIONS,
    { version: 99, name: "broken", statements: ["create table ok_t (x int)", "select nope"] },
  ];
  await assert.rejects(migrate(sql, { schema, migrations: broken }), /Cannot apply migration 99/);
  const status = await migrationStatus(sql, { schema, migrations: broken });
  assert.deepEqual(status.applied.map((m) => m.version), ALL);
  assert.deepEqual(status.pending.map((m) => m.version), [99]);
  const [{ exists }] = await sql`select to_regclass(${schema + ".ok_t"}) is not null as exists`;
  assert.equal(exists, false);
  const older = await migrationStatus(sql, { schema, migrations: [] });
  assert.deepEqual(older.unknown, ALL);
}, { migrate: false });

pgTest(
  "orch db migrate from 3 processes at once yields one schema",
  async ({ sql, url, schema }) => {
    const children = [0, 1, 2].map(() => runCliChild(["db", "migrate", "--store", url]));
    const results = await Promise.all(children);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    // Each version is applied by exactly one process (with several versions, the
    // processes may take turns: each version is its own transaction under the lock).
    const applied = results.flatMap((r) =>
      (/^Applied \d+ migration\(s\) \(([\d, ]+)\)/.exec(r.stdout)?.[1] ?? "")
        .split(", ").filter((v) => v !== "").map(Number)
    ).sort((a, b) => a - b);
    assert.deepEqual(applied, ALL, results.map((r) => r.stdout).join(""));
    const rows = await sql`select version from ${sql(schema)}.orch_migrations`;
    assert.deepEqual(rows.map((r) => r.version), ALL);
  },
  { migrate: false },
);

pgTest("orch db status lists applied and pending versions", async ({ url }) => {
  const before = await runCliChild(["db", "status"], { ORCH_STORE: url });
  assert.equal(before.code, 0, before.stderr);
  assert.match(before.stdout, /pending {2}1 {2}events/);
  assert.match(before.stdout, new RegExp(`${ALL.length} pending: run 'orch db migrate'`));
  await runCliChild(["db", "migrate"], { ORCH_STORE: url });
  const after = await runCliChild(["db", "status", "--json", "--store", url]);
  const json = JSON.parse(after.stdout);
  assert.deepEqual(json.applied.map((m: { version: number }) => m.version), ALL);
  assert.deepEqual(json.pending, []);
}, { migrate: false });

Deno.test("orch db exits 2 with a clear message when no store is set or it is unreachable", async (t) => {
  await t.step("unset", async () => {
    const r = await runCliChild(["db", "status"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^StoreConfigError: Cannot run 'orch db' without a PostgreSQL store/);
    assert.doesNotMatch(r.stderr, /\bat /);
  });
  await t.step("unreachable", async () => {
    const r = await runCliChild(["db", "migrate", "--store", "postgres://u:pw@127.0.0.1:1/x"]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^StoreUnavailableError: Cannot connect to the store "postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/x": .*ECONNREFUSED/,
    );
    assert.doesNotMatch(r.stderr, /\bat |pw@/);
  });
  await t.step("bad subcommand", async () => {
    const r = await runCliChild(["db", "drop"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown db command "drop"/);
  });
});
