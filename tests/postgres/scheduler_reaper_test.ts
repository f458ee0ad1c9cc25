/**
 * No distributed run is left running: when every worker of a detached run died and its
 * submitter is gone, `scheduler --once` ticks and the `scheduler --serve` leader reap the
 * lost attempts (`worker_lost`), so the run is retried or ends. Real processes, real
 * PostgreSQL.
 */
import assert from "node:assert/strict";
import type { Sandbox } from "../helpers/cli.ts";
import { notNowCron, schedules, spawnOrch } from "../e2e/_sched.ts";
import { claimAttempts, LostAttemptReaper } from "../../src/store/postgres/cluster/mod.ts";
import { collectStderr, type PgScope, pgTest } from "./_pg.ts";
import {
  cli,
  clusterSandbox,
  dagText,
  eventually,
  logs,
  startWorkers,
  stopWorkers,
  type WorkerProc,
} from "./_cluster.ts";

const LOST = { ORCH_WORKER_LOST_MS: "2000", SCHED_MAX_PARALLEL: "2" };
type Ev = Record<string, unknown>;

/** `first` -> `slow` (10 s, `retries`) -> `last`. */
function slowDag(retries: number): string {
  return dagText("reaped", [
    { id: "first", workflow_ref: "echo" },
    { id: "slow", workflow_ref: "sleep", params: { ms: 10_000 }, depends_on: ["first"], retries },
    { id: "last", workflow_ref: "echo", depends_on: ["slow"] },
  ]);
}

/**
 * Submits `dag.yaml` detached, waits until `slow` runs, SIGKILLs every worker, and waits
 * until the attempt is silent past its bound with the run still `running`: nobody reaps.
 */
async function orphanRun(scope: PgScope, sb: Sandbox, workers: WorkerProc[]): Promise<string> {
  const r = await cli(sb, ["run", "--dag", "dag.yaml", "--distributed", "--detach"], LOST);
  assert.equal(r.code, 0, r.stderr);
  const runId = r.stdout.trim();
  await eventually(() =>
    scope.sql`select 1 from task_queue where task_id = 'slow' and state = 'running'`
      .then((x) => x.length > 0)
  );
  for (const w of workers) w.child.kill("SIGKILL");
  await eventually(
    () =>
      scope.sql`select 1 from task_queue where task_id = 'slow' and state = 'running'
      and heartbeat < now() - interval '3 s'`.then((x) => x.length > 0),
    20_000,
  );
  assert.equal(await runStatus(scope, runId), "running", "no worker or submitter reaps it");
  return runId;
}

async function runStatus(scope: PgScope, runId: string): Promise<string> {
  const [row] = await scope.sql<{ status: string }[]>`
    select status from runs where run_id = ${runId}`;
  return row.status;
}

async function slowEvents(scope: PgScope, runId: string): Promise<Ev[]> {
  const rows = await scope.sql<{ body: Ev }[]>`
    select body from events where run_id = ${runId} order by id`;
  return rows.map((r) => r.body);
}

pgTest(
  "scheduler --once reaps a detached run whose workers all died: worker_lost, run failed",
  async (scope) => {
    const sb = await clusterSandbox(scope);
    let workers: WorkerProc[] = [];
    try {
      workers = await startWorkers(sb, 1, LOST);
      await sb.write("dag.yaml", slowDag(0));
      await schedules(sb, [{ id: "idle", cron: notNowCron(), dag: "dag.yaml" }]);
      const runId = await orphanRun(scope, sb, workers);
      const tick = await cli(sb, ["scheduler", "--once", "--dir", "sched"], LOST);
      assert.equal(tick.code, 0, tick.stderr);
      assert.match(tick.stderr, /reaped 1 attempt\(s\) of lost workers \(worker_lost\); 1 run/);
      assert.equal(await runStatus(scope, runId), "failed");
      const ev = await slowEvents(scope, runId);
      const fail = ev.find((e) => e.event === "task_fail" && e.task_id === "slow")!;
      assert.deepEqual([fail.error_name, fail.reason], ["WorkerLostError", "worker_lost"]);
      const skip = ev.find((e) => e.event === "task_skipped")!;
      assert.deepEqual([skip.task_id, skip.upstream], ["last", "slow"]);
      assert.equal(ev.at(-1)!.event, "dag_done");
      const runs = await cli(sb, ["runs", "--json"]);
      const row = JSON.parse(runs.stdout).find((x: Ev) => x.run_id === runId);
      assert.equal(row.status, "failed");
    } finally {
      await stopWorkers(workers, 5000);
      await sb.cleanup();
    }
  },
);

pgTest(
  "the scheduler --serve leader reaps; the retry waits queued for a worker, which finishes it",
  async (scope) => {
    const sb = await clusterSandbox(scope);
    let workers: WorkerProc[] = [];
    let scheduler: Deno.ChildProcess | null = null;
    let schedLog = () => "";
    try {
      workers = await startWorkers(sb, 1, LOST);
      await sb.write("dag.yaml", slowDag(1));
      await schedules(sb, [{ id: "idle", cron: notNowCron(), dag: "dag.yaml" }]);
      const runId = await orphanRun(scope, sb, workers);
      scheduler = spawnOrch(["scheduler", "--serve", "--dir", "sched"], sb, {
        ...LOST,
        SCHED_TICK_MS: "200",
      });
      const err = collectStderr(scheduler);
      schedLog = err.text;
      const [retry] = await eventually(() =>
        scope.sql<{ state: string }[]>`
          select state from task_queue where task_id = 'slow' and attempt = 2`
          .then((x) => x.length ? x : null), 20_000);
      assert.equal(retry.state, "queued");
      assert.match(schedLog(), /leader: this scheduler leads/);
      // The line follows the reaping commit that queued the retry; stderr may lag it.
      await eventually(
        () => Promise.resolve(/reaped 1 attempt\(s\) of lost workers/.test(schedLog())),
        5000,
      )
        .catch(() => {});
      assert.match(schedLog(), /reaped 1 attempt\(s\) of lost workers/);
      // No worker exists: the run is queued, not lost, and stays running.
      assert.equal(await runStatus(scope, runId), "running");
      const runs = await cli(sb, ["runs", "--json"]);
      assert.equal(JSON.parse(runs.stdout).find((x: Ev) => x.run_id === runId).status, "running");
      const ev = await slowEvents(scope, runId);
      const fail = ev.find((e) => e.event === "task_fail" && e.task_id === "slow")!;
      assert.deepEqual([fail.reason, fail.will_retry], ["worker_lost", true]);
      // A worker comes back and finishes the run (the 10 s retry, then `last`).
      await stopWorkers(workers, 5000);
      workers = await startWorkers(sb, 1, LOST);
      await eventually(async () => (await runStatus(scope, runId)) === "success", 40_000);
      const oks = (await slowEvents(scope, runId)).filter((e) => e.event === "task_ok");
      assert.deepEqual(oks.map((e) => `${e.task_id}#${e.attempt}`), [
        "first#1",
        "slow#2",
        "last#1",
      ]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${schedLog()}\n${logs(workers)}`, {
        cause: err,
      });
    } finally {
      if (scheduler) {
        scheduler.kill("SIGTERM");
        await scheduler.status;
      }
      await stopWorkers(workers, 5000);
      await sb.cleanup();
    }
  },
);

pgTest("LostAttemptReaper reaps only while active (a follower issues nothing)", async (scope) => {
  const sb = await clusterSandbox(scope);
  try {
    await sb.write("one.yaml", dagText("one", [{ id: "only", workflow_ref: "echo" }]));
    const r = await cli(sb, ["run", "--dag", "one.yaml", "--distributed", "--detach"]);
    assert.equal(r.code, 0, r.stderr);
    // A ghost worker claims the attempt with a 100 ms bound and never heartbeats.
    const [claimed] = await claimAttempts(scope.sql, { worker: "ghost", limit: 1, lostMs: 100 });
    assert.equal(claimed.job.taskId, "only");
    await new Promise((res) => setTimeout(res, 300));
    let leads = false;
    const notices: string[] = [];
    const reaper = new LostAttemptReaper({ sql: scope.sql, schema: scope.schema }, {
      lostMs: 60_000, // the attempt's own 100 ms bound is what counts
      isActive: () => leads,
      onNotice: (line) => notices.push(line),
    });
    assert.equal(await reaper.reapOnce(), 0, "a follower does not reap");
    const [before] = await scope.sql<{ state: string }[]>`select state from task_queue`;
    assert.equal(before.state, "running");
    leads = true;
    assert.equal(await reaper.reapOnce(), 1);
    assert.deepEqual(notices, [
      "reaped 1 attempt(s) of lost workers (worker_lost); 1 run(s) ended",
    ]);
    assert.equal(await runStatus(scope, r.stdout.trim()), "failed");
    await reaper.stop();
  } finally {
    await sb.cleanup();
  }
});
