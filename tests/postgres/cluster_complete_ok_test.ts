import assert from "node:assert/strict";
import type { Dag } from "../../src/dag/types.ts";
import { buildPlan } from "../../src/plan/mod.ts";
import {
  cancelClusterRun,
  type ClusterDb,
  submitRun,
} from "../../src/store/postgres/cluster/mod.ts";
import { type ClaimedAttempt, claimNext } from "../../src/store/postgres/cluster/claim.ts";
import { completeAndClaim, endOf } from "../../src/store/postgres/cluster/complete.ts";
import { pgTest } from "./_pg.ts";

const CHAIN: Dag = {
  name: "chain",
  dagId: "chain",
  tenantId: "t1",
  tasks: [
    { id: "a", workflowRef: "fake", params: {}, retries: 0, retryDelayS: 0, dependsOn: [] },
    { id: "b", workflowRef: "fake", params: {}, retries: 0, retryDelayS: 0, dependsOn: ["a"] },
  ],
};

async function submitChain(db: ClusterDb): Promise<string> {
  return await submitRun(db, {
    dag: CHAIN,
    plan: buildPlan(CHAIN),
    sources: CHAIN.tasks.map(() => ({ kind: "builtin", name: "fake" })),
  }, { runId: "r1", host: "h", pid: 1 });
}

function succeeded(c: ClaimedAttempt, output: Record<string, unknown>) {
  const at = Date.now();
  const outputJson = JSON.stringify(output);
  return endOf(c, { ok: true, output, outputJson, startedAt: at - 5, endedAt: at });
}

pgTest(
  "completeAndClaim() of successes: held events first, the dependant claimed with its upstream output, the run ended once",
  async ({ sql, schema }) => {
    const db: ClusterDb = { sql, schema };
    const runId = await submitChain(db);
    const opts = { worker: "w1", lostMs: 10_000 };
    const [a] = (await claimNext(sql, { ...opts, limit: 5 })).claimed;
    assert.equal(a.job.taskId, "a");
    const start = { timestamp: new Date().toISOString(), event: "task_start", task_id: "a" };
    const first = await completeAndClaim(db, [succeeded(a, { x: 1 })], {
      ...opts,
      claim: 5,
      before: [{ ...start, run_id: runId }],
    });
    assert.deepEqual(first.finished, []);
    assert.equal(first.claimed.length, 1);
    const b = first.claimed[0];
    assert.equal(b.job.taskId, "b");
    assert.deepEqual(b.job.upstream, [["a", '{"x": 1}']]);

    const second = await completeAndClaim(db, [succeeded(b, { y: 2 })], { ...opts, claim: 5 });
    assert.deepEqual(second.finished, [{ runId, status: "success" }]);
    assert.deepEqual(second.claimed, []);
    // A late second record of b (already done) changes nothing.
    const again = await completeAndClaim(db, [succeeded(b, { y: 3 })], { ...opts, claim: 5 });
    assert.deepEqual(again.finished, []);

    const events = await sql<{ event: string; body: Record<string, unknown> }[]>`
      select event, body from events where run_id = ${runId} order by id`;
    assert.deepEqual(events.map((e) => e.event), [
      "dag_start",
      "task_start",
      "task_ok",
      "task_ok",
      "dag_done",
    ]);
    const done = events[4].body;
    assert.equal(done.status, "success");
    assert.equal(done.tasks_succeeded, 2);
    assert.equal(done.tasks_failed, 0);
    assert.equal(done.dag_name, "chain");
    assert.equal(done.tenant_id, "t1");
    assert.equal(typeof done.duration_s, "number");
    assert.deepEqual(events[3].body.output, { y: 2 });
    const finished = await sql<{ body: Record<string, unknown> }[]>`
      select body from state_events where run_id = ${runId} and event = 'run_finished'`;
    assert.equal(finished.length, 1);
    assert.equal(finished[0].body.status, "success");
    assert.equal(finished[0].body.tasks_succeeded, 2);
    const [run] = await sql`select status, remaining from runs where run_id = ${runId}`;
    assert.deepEqual({ ...run }, { status: "success", remaining: 0 });
    // A success leaves no queue row (the record is its task_ok); the task rows hold the run.
    assert.deepEqual([...await sql`select id from task_queue where run_id = ${runId}`], []);
    const tasks = await sql<{ task_id: string; state: string }[]>`
      select task_id, state from run_tasks where run_id = ${runId} order by idx`;
    assert.deepEqual(tasks.map((t) => [t.task_id, t.state]), [["a", "success"], ["b", "success"]]);
  },
);

pgTest(
  "cancelClusterRun() fails the claimed task and skips the others, whatever run_tasks says",
  async ({ sql, schema }) => {
    const db: ClusterDb = { sql, schema };
    const runId = await submitChain(db);
    const [a] = (await claimNext(sql, { worker: "w1", lostMs: 10_000, limit: 5 })).claimed;
    assert.equal(a.job.taskId, "a");
    // Claimed: its task row stays `queued` (one row version fewer per task, migration 6).
    const [row] = await sql`select state from run_tasks where run_id = ${runId} and idx = 0`;
    assert.equal(row.state, "queued");
    assert.deepEqual(await cancelClusterRun(db, runId, "stop"), { runId, status: "cancelled" });
    const tasks = await sql<{ task_id: string; state: string; error: string | null }[]>`
      select task_id, state, error from run_tasks where run_id = ${runId} order by idx`;
    assert.deepEqual(tasks.map((t) => [t.task_id, t.state, t.error]), [
      ["a", "failed", "Task 'a' was cancelled: stop"],
      ["b", "skipped", null],
    ]);
    const events = await sql<{ event: string; task_id: string }[]>`
      select event, body->>'task_id' as task_id from events
      where run_id = ${runId} and event in ('task_fail', 'task_skipped') order by id`;
    assert.deepEqual(events.map((e) => [e.event, e.task_id]), [
      ["task_fail", "a"],
      ["task_skipped", "b"],
    ]);
    // The late success of the cancelled attempt changes nothing.
    const late = await completeAndClaim(db, [succeeded(a, { x: 1 })], {
      worker: "w1",
      lostMs: 10_000,
      claim: 5,
    });
    assert.deepEqual(late, { finished: [], claimed: [] });
  },
);

pgTest(
  "claimNext() claiming nothing reports the wait until the next delayed attempt",
  async ({ sql, schema }) => {
    const db: ClusterDb = { sql, schema };
    await submitChain(db);
    const opts = { worker: "w1", lostMs: 10_000, limit: 5 };
    const [a] = (await claimNext(sql, opts)).claimed;
    assert.deepEqual(await claimNext(sql, opts), { claimed: [], dueMs: null });
    // As a retry after its backoff: queued again, due in 2 s.
    await sql`update task_queue set state = 'queued', claimed_by = null,
      not_before = now() + interval '2 seconds' where id = ${a.id}`;
    const idle = await claimNext(sql, opts);
    assert.deepEqual(idle.claimed, []);
    assert.ok(idle.dueMs !== null && idle.dueMs > 1000 && idle.dueMs <= 2000, `${idle.dueMs}`);
  },
);
