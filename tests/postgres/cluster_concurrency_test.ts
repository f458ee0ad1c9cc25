import assert from "node:assert/strict";
import type { Dag } from "../../src/dag/types.ts";
import { buildPlan } from "../../src/plan/mod.ts";
import type { Job, JobOutcome, TaskPool } from "../../src/pool/mod.ts";
import { type ClusterDb, ClusterWorker, submitRun } from "../../src/store/postgres/cluster/mod.ts";
import { pgTest } from "./_pg.ts";
import { recordAttempts } from "./_cluster.ts";

/**
 * A pool that runs nothing: `{n}` is 1 plus the upstream outputs' `n` (so payload passing
 * is checked), tasks with `fail` always fail, tasks with `flaky` fail their first attempt.
 */
function fakePool(size: number): TaskPool {
  return {
    size,
    async run(job: Job): Promise<JobOutcome> {
      await new Promise((r) => setTimeout(r, Math.random() * 3));
      const now = Date.now();
      if (job.params.fail || (job.params.flaky && job.attempt === 1)) {
        return { ok: false, error: { name: "Error", message: "no" }, startedAt: now, endedAt: now };
      }
      let n = 1;
      for (const [, text] of job.upstream ?? []) n += JSON.parse(text).n;
      const outputJson = JSON.stringify({ n });
      return { ok: true, output: { n }, outputJson, startedAt: now, endedAt: now };
    },
    inspect: () => Promise.resolve([]),
    cancelRun: () => {},
    close: () => Promise.resolve(),
  };
}

/** A random DAG of `n` tasks (1-3 dependencies on earlier tasks), a few failing, a few flaky. */
function randomDag(name: string, n: number, seed: number): Dag {
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const tasks = Array.from({ length: n }, (_, i) => {
    const deps = i === 0 ? [] : [
      ...new Set(
        Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => `t${Math.floor(rnd() * i)}`),
      ),
    ];
    const r = rnd();
    const params = r < 0.04 ? { fail: true } : r < 0.12 ? { flaky: true } : {};
    return {
      id: `t${i}`,
      workflowRef: "fake",
      params,
      retries: "flaky" in params ? 1 : 0,
      retryDelayS: 0,
      dependsOn: i < 3 ? [] : deps,
    };
  });
  return { name, dagId: name, tenantId: "t", tasks };
}

/** What a local run would give: each task's status and `n`. */
function expected(dag: Dag): Map<string, { status: string; n?: number }> {
  const out = new Map<string, { status: string; n?: number }>();
  for (const t of dag.tasks) {
    const ups = t.dependsOn.map((d) => out.get(d)!);
    if (ups.some((u) => u.status !== "success")) out.set(t.id, { status: "skipped" });
    else if (t.params.fail) out.set(t.id, { status: "failed" });
    else out.set(t.id, { status: "success", n: 1 + ups.reduce((a, u) => a + u.n!, 0) });
  }
  return out;
}

pgTest(
  "3 workers settle 12 concurrent runs: every task decided once, as a local run would",
  async (scope) => {
    const db: ClusterDb = { sql: scope.sql, schema: scope.schema };
    await recordAttempts(scope.sql);
    const dags = Array.from({ length: 12 }, (_, k) => randomDag(`d${k}`, 60, 7 + k));
    const all = dags.flatMap((d) => [...expected(d).values()].map((w) => w.status));
    assert.ok(
      ["success", "failed", "skipped"].every((s) => all.includes(s)),
      "the DAGs cover each",
    );
    assert.ok(dags.some((d) => d.tasks.some((t) => t.params.flaky)), "and retries");
    const stop = new AbortController();
    const workers = [0, 1, 2].map((k) =>
      new ClusterWorker(db, fakePool(4), { name: `w${k}`, lostMs: 5000, pollMs: 200 })
    );
    const serving = workers.map((w) => w.serve(stop.signal));
    try {
      const runIds = await Promise.all(dags.map((dag, k) =>
        submitRun(db, {
          dag,
          plan: buildPlan(dag),
          sources: dag.tasks.map(() => ({ kind: "builtin", name: "fake" })),
        }, {
          runId: `run${k}`,
          host: "h",
          pid: 1,
        })
      ));
      const end = Date.now() + 60_000;
      while (true) {
        const open = await scope.sql`select 1 from runs where status = 'running'`;
        if (open.length === 0) {
          break;
        }
        if (Date.now() > end) throw new Error("runs did not finish");
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const [k, dag] of dags.entries()) {
        const runId = runIds[k];
        const want = expected(dag);
        const tasks = await scope.sql<{ task_id: string; state: string; n: number | null }[]>`
        select task_id, state, (output->>'n')::int as n from run_tasks where run_id = ${runId}`;
        for (const t of tasks) {
          const w = want.get(t.task_id)!;
          assert.equal(t.state, w.status, `${runId} ${t.task_id}`);
          if (w.n !== undefined) assert.equal(t.n, w.n, `${runId} ${t.task_id} payload`);
        }
        const attempts = await scope.sql<{ task_id: string; n: number; done: number }[]>`
        select task_id, count(*)::int as n, count(*) filter (where state = 'done')::int as done
        from attempts where run_id = ${runId} group by task_id`;
        for (const a of attempts) {
          const t = dag.tasks.find((x) => x.id === a.task_id)!;
          const status = want.get(a.task_id)!.status;
          assert.equal(a.done, status === "success" ? 1 : 0, `${runId} ${a.task_id} done once`);
          assert.equal(a.n, t.params.flaky ? 2 : 1, `${runId} ${a.task_id} attempts`);
        }
        const statuses = [...want.values()].map((w) => w.status);
        const count = (s: string) => statuses.filter((x) => x === s).length;
        const [run] = await scope.sql<{ status: string; remaining: number }[]>`
        select status, remaining from runs where run_id = ${runId}`;
        assert.deepEqual({ ...run }, {
          status: count("failed") + count("skipped") > 0 ? "failed" : "success",
          remaining: 0,
        });
        const done = await scope.sql<{ ok: number; failed: number; skipped: number }[]>`
        select (body->>'tasks_succeeded')::int as ok, (body->>'tasks_failed')::int as failed,
          (body->>'tasks_skipped')::int as skipped
        from events where run_id = ${runId} and event = 'dag_done'`;
        assert.deepEqual(done.map((d) => ({ ...d })), [
          { ok: count("success"), failed: count("failed"), skipped: count("skipped") },
        ]);
        const [last] = await scope.sql<{ event: string }[]>`
        select event from events where run_id = ${runId} order by id desc limit 1`;
        assert.equal(last.event, "dag_done", "dag_done is the run's last event");
        const finished = await scope.sql`select 1 from state_events
        where run_id = ${runId} and event = 'run_finished'`;
        assert.equal(finished.length, 1);
      }
    } finally {
      stop.abort();
      await Promise.all(serving);
    }
  },
);
