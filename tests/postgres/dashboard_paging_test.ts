/**
 * The dashboard on PostgreSQL pages in SQL: at start-up it loads only the newest runs,
 * older ones when a page, a filter or a run's page asks; and a run committed by another
 * process reaches live clients through LISTEN/NOTIFY, long before the (fallback) poll.
 */
import assert from "node:assert/strict";
import { createDashboard } from "../../src/dashboard/mod.ts";
import { ManualClock } from "../../src/lib/mod.ts";
import { PostgresEventLog, PostgresStateStore } from "../../src/store/postgres/mod.ts";
import { PostgresRunSource } from "../../src/store/postgres/dashboard_source.ts";
import { orch, sandbox } from "../helpers/cli.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";
import { readUntil } from "../dashboard/_helpers.ts";
import { type PgScope, pgTest } from "./_pg.ts";

type App = { fetch(r: Request): Promise<Response> };
type Summary = { run_id: string; dag_name: string; status: string };

async function getJson(app: App, path: string) {
  const res = await app.fetch(new Request(`http://x${path}`));
  assert.equal(res.status, 200, path);
  return await res.json();
}

const T0 = Date.parse("2026-01-01T00:00:00.000Z");

/**
 * Records run `i` as the engine does (state events through the state store, task events
 * through the event log), started at T0 + i minutes; `finish: false` leaves it running.
 */
async function writeRun(scope: PgScope, i: number, finish = true): Promise<string> {
  const runId = `run-${String(i).padStart(2, "0")}`;
  const at = (s: number) => new Date(T0 + i * 60_000 + s * 1000);
  const clock = new ManualClock(at(0));
  const state = new PostgresStateStore(scope.sql, { schema: scope.schema, clock });
  const dag = i % 2 === 0 ? "even" : "odd";
  await state.transaction((tx) => {
    tx.append({ event: "run_started", run_id: runId, dag_name: dag, tenant_id: "t" });
    return Promise.resolve();
  });
  const log = new PostgresEventLog(scope.sql);
  const ev = (event: string, s: number, extra: Record<string, unknown> = {}) =>
    log.append({ timestamp: at(s).toISOString(), event, run_id: runId, ...extra });
  ev("dag_start", 0, { dag_name: dag, tenant_id: "t", tasks: 1 });
  ev("task_start", 1, { task_id: "a", attempt: 1 });
  await log.flush();
  if (finish) await finishRun(scope, i, runId);
  return runId;
}

async function finishRun(scope: PgScope, i: number, runId: string): Promise<void> {
  const at = (s: number) => new Date(T0 + i * 60_000 + s * 1000);
  const log = new PostgresEventLog(scope.sql);
  log.append({ timestamp: at(2).toISOString(), event: "task_ok", run_id: runId, task_id: "a" });
  log.append({
    timestamp: at(3).toISOString(),
    event: "dag_done",
    run_id: runId,
    status: "success",
  });
  await log.flush();
  const clock = new ManualClock(at(3));
  const state = new PostgresStateStore(scope.sql, { schema: scope.schema, clock });
  await state.transaction((tx) => {
    tx.append({ event: "run_finished", run_id: runId, status: "success", duration_s: 3 });
    return Promise.resolve();
  });
}

pgTest(
  "dashboard on PostgreSQL loads the newest runs first and pages older ones in SQL",
  async (scope, t) => {
    const ids: string[] = [];
    ids.push(await writeRun(scope, 0, false)); // the oldest run is still running
    for (let i = 1; i < 12; i++) ids.push(await writeRun(scope, i));
    const newestFirst = [...ids].reverse();
    const app = createDashboard({
      source: new PostgresRunSource(scope.sql, { firstRuns: 5 }),
      pollIntervalMs: 60_000,
    });
    try {
      await t.step("the first page comes from the newest runs only", async () => {
        const page = await getJson(app, "/api/runs?limit=3");
        assert.deepEqual(page.runs.map((r: Summary) => r.run_id), newestFirst.slice(0, 3));
        assert.equal(page.total, 12, "total counts the runs not loaded (in SQL)");
        assert.equal((await getJson(app, "/api/info")).runs, 5, "5 runs loaded");
      });

      await t.step("an old run that finishes after start-up is loaded whole", async () => {
        await finishRun(scope, 0, ids[0]);
        await getJson(app, "/api/runs?limit=1"); // a request polls
        assert.equal((await getJson(app, "/api/info")).runs, 6, "the 5 newest and run-00");
      });

      await t.step("older pages load older runs, in order, each once", async () => {
        const second = await getJson(app, "/api/runs?limit=5&offset=5");
        assert.deepEqual(second.runs.map((r: Summary) => r.run_id), newestFirst.slice(5, 10));
        assert.equal(second.total, 12);
        const last = await getJson(app, "/api/runs?limit=5&offset=10");
        assert.deepEqual(last.runs.map((r: Summary) => r.run_id), newestFirst.slice(10));
        assert.equal(last.total, 12);
        const all = await getJson(app, "/api/runs?limit=50");
        assert.deepEqual(all.runs.map((r: Summary) => r.run_id), newestFirst);
        const old = all.runs.at(-1);
        assert.deepEqual([old.status, old.dag_name], ["success", "even"]);
        assert.ok(all.runs.every((r: Summary) => r.dag_name === "even" || r.dag_name === "odd"));
        const even = await getJson(app, "/api/runs?dag=even&limit=50");
        assert.equal(even.total, 6);
      });
    } finally {
      await app.close();
    }

    const fresh = createDashboard({
      source: new PostgresRunSource(scope.sql, { firstRuns: 5 }),
      pollIntervalMs: 60_000,
    });
    try {
      await t.step("a filter pages until its page is full; totals match", async () => {
        const odd = await getJson(fresh, "/api/runs?dag=odd&limit=4");
        assert.deepEqual(
          odd.runs.map((r: Summary) => r.run_id),
          newestFirst.filter((id) => Number(id.slice(4)) % 2 === 1).slice(0, 4),
        );
        assert.equal(odd.total, 6);
        const failed = await getJson(fresh, "/api/runs?status=failed");
        assert.deepEqual([failed.runs.length, failed.total], [0, 0]);
      });

      await t.step("an old run's page loads it; facets cover unloaded runs", async () => {
        const fresh2 = createDashboard({
          source: new PostgresRunSource(scope.sql, { firstRuns: 2 }),
          pollIntervalMs: 60_000,
        });
        try {
          // The newest two, and run-00, whose end was written last (a run still writing
          // when the dashboard starts is loaded whole, however old).
          assert.equal((await getJson(fresh2, "/api/info")).runs, 3);
          const detail = await getJson(fresh2, `/api/runs/${ids[1]}`);
          assert.equal(detail.run.status, "success");
          assert.equal(detail.run.dag_name, "odd");
          assert.deepEqual(detail.tasks.map((x: { task_id: string }) => x.task_id), ["a"]);
          const facets = await getJson(fresh2, "/api/facets");
          assert.deepEqual(facets.dags, ["even", "odd"]);
          const missing = await fresh2.fetch(new Request("http://x/api/runs/nope"));
          assert.equal(missing.status, 404);
          await missing.body?.cancel();
        } finally {
          await fresh2.close();
        }
      });
    } finally {
      await fresh.close();
    }
  },
);

pgTest(
  "dashboard on PostgreSQL: a run committed by another process arrives without waiting for the poll",
  async (scope) => {
    const sb = await sandbox();
    const env = { ...sb.env, ORCH_STORE: scope.url, WORKFLOWS_DIR: FIXTURE_WORKFLOWS };
    await sb.write("ok.yaml", dagYaml("woken_dag", [{ id: "a", workflow_ref: "echo" }]));
    const app = createDashboard({
      source: new PostgresRunSource(scope.sql),
      pollIntervalMs: 600_000, // the fallback poll never fires during the test
    });
    try {
      assert.equal((await getJson(app, "/api/runs")).total, 0);
      const res = await app.fetch(new Request("http://x/api/events"));
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      try {
        await readUntil(reader, /: connected\n\n/);
        const run = await orch(["run", "--dag", "ok.yaml", "--json"], { cwd: sb.dir, env });
        assert.equal(run.code, 0, run.stderr);
        const runId = JSON.parse(run.stdout).run_id;
        const text = await readUntil(
          reader,
          new RegExp(`event: runs\\ndata: [^\\n]*"run_id":"${runId}"[^\\n]*"status":"success"`),
          10_000,
        );
        const arrived = Date.now();
        const [{ ts }] = await scope.sql<{ ts: Date }[]>`
          select ts from state_events where run_id = ${runId} and event = 'run_finished'`;
        const lagMs = arrived - ts.getTime();
        console.log(`run_finished committed -> SSE push: ${lagMs} ms`);
        assert.ok(lagMs < 5000, `${lagMs} ms`);
        assert.match(text, /"dag_name":"woken_dag"/);
      } finally {
        await reader.cancel();
      }
    } finally {
      await app.close();
      await sb.cleanup();
    }
  },
);

pgTest(
  "dashboard on PostgreSQL re-reads when its listen connection comes back (notifications lost meanwhile)",
  async (scope) => {
    const source = PostgresRunSource.open(scope.config);
    const app = createDashboard({ source, pollIntervalMs: 600_000 });
    try {
      await getJson(app, "/api/runs");
      const res = await app.fetch(new Request("http://x/api/events"));
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      try {
        await readUntil(reader, /: connected\n\n/);
        // Written without NOTIFY, as if its notification was sent while the listener was away.
        const body = { event: "run_started", run_id: "silent", dag_name: "quiet_dag" };
        await scope.sql`insert into state_events (event, ts, run_id, body)
          values ('run_started', now(), 'silent', ${scope.sql.json(body)})`;
        const listener = () =>
          scope.sql<{ pid: number }[]>`select pid from pg_stat_activity
            where application_name = ${`orch dashboard [${scope.schema}]`}
              and query ilike 'listen%'`;
        let found = await listener();
        for (let i = 0; i < 100 && found.length === 0; i++) {
          await new Promise((r) => setTimeout(r, 50)); // LISTEN is issued at start-up
          found = await listener();
        }
        const [{ pid }] = found;
        await scope.sql`select pg_terminate_backend(${pid})`;
        await readUntil(reader, /event: runs\ndata: [^\n]*"run_id":"silent"/, 10_000);
        let again = false; // the old session may still show while it ends
        for (let i = 0; i < 100 && !again; i++) {
          again = (await listener()).some((x) => x.pid !== pid);
          if (!again) await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(again, "listening again on a new session");
      } finally {
        await reader.cancel();
      }
    } finally {
      await app.close();
    }
  },
);
