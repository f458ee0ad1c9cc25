import assert from "node:assert/strict";
import { REPO } from "../helpers/cli.ts";
import { type PgScope, pgTest } from "./_pg.ts";
import {
  clusterSandbox,
  dagText,
  eventually,
  logs,
  recordAttempts,
  startWorkers,
  stopWorkers,
  type WorkerProc,
} from "./_cluster.ts";
import type { Sandbox } from "../helpers/cli.ts";

// Generous against a loaded machine: a healthy worker heartbeats every 500 ms.
const LOST = { ORCH_WORKER_LOST_MS: "2000", SCHED_MAX_PARALLEL: "2" };
type Ev = Record<string, unknown>;

/** `first` -> `slow` (sleeps, `retries`) -> `last`, plus an independent `quick`. */
function slowDag(retries: number): string {
  return dagText("failover", [
    { id: "first", workflow_ref: "echo", params: { x: 1 } },
    { id: "quick", workflow_ref: "echo" },
    { id: "slow", workflow_ref: "sleep", params: { ms: 3000 }, depends_on: ["first"], retries },
    { id: "last", workflow_ref: "echo", depends_on: ["slow"] },
  ]);
}

/** Spawns a foreground `orch run --distributed --json` of `dag.yaml`. */
function submit(sb: Sandbox, env: Record<string, string> = {}): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      `${REPO}/main.ts`,
      "run",
      "--dag",
      "dag.yaml",
      "--distributed",
      "--json",
    ],
    cwd: sb.dir,
    env: { ...sb.env, ...LOST, NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Waits until `slow` runs; returns the worker that claimed it. */
async function slowRunner(scope: PgScope, workers: WorkerProc[]): Promise<WorkerProc> {
  const [row] = await eventually(() =>
    scope.sql<{ claimed_by: string }[]>`
      select claimed_by from task_queue where task_id = 'slow' and state = 'running'`
      .then((x) => x.length ? x : null)
  );
  // Both roots recorded first: their ends are never in flight when the worker dies.
  await eventually(() =>
    scope.sql`select 1 from attempts where task_id in ('first', 'quick') and state = 'done'`
      .then((x) => x.length === 2)
  );
  const pid = Number(row.claimed_by.split(":").at(-1));
  const w = workers.find((x) => x.child.pid === pid);
  assert.ok(w, `worker ${row.claimed_by} is one of ours`);
  return w;
}

async function taskEvents(scope: PgScope, taskId: string): Promise<Ev[]> {
  const rows = await scope.sql<{ body: Ev }[]>`
    select body from events where body->>'task_id' = ${taskId} order by id`;
  return rows.map((r) => r.body);
}

pgTest(
  "SIGKILL of a worker mid-task: worker_lost, retried on another worker, run succeeds",
  async (scope) => {
    const sb = await clusterSandbox(scope);
    await recordAttempts(scope.sql);
    let workers: WorkerProc[] = [];
    try {
      workers = await startWorkers(sb, 2, LOST);
      await sb.write("dag.yaml", slowDag(1));
      // The submitter's own bound is far shorter than the workers' heartbeat interval: it
      // reaps with the bound each attempt was claimed with, so healthy attempts survive.
      const run = submit(sb, { ORCH_WORKER_LOST_MS: "100" });
      const victim = await slowRunner(scope, workers);
      victim.child.kill("SIGKILL");
      const out = await run.output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr + logs(workers));
      const result = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.equal(result.status, "success");
      const attempts = await scope.sql<
        { task_id: string; attempt: number; state: string; error: Ev }[]
      >`
      select task_id, attempt, state, error from attempts order by task_id, attempt`;
      const slow = attempts.filter((a) => a.task_id === "slow");
      assert.deepEqual(slow.map((a) => [a.attempt, a.state]), [[1, "failed"], [2, "done"]]);
      assert.equal((slow[0].error.error as Ev).name, "WorkerLostError");
      for (const id of ["first", "quick", "last"]) {
        const rows = attempts.filter((a) => a.task_id === id);
        assert.deepEqual(rows.map((a) => [a.attempt, a.state]), [[1, "done"]], `${id} ran once`);
        const oks = (await taskEvents(scope, id)).filter((e) => e.event === "task_ok");
        assert.equal(oks.length, 1, `${id} completed once`);
      }
      const ev = await taskEvents(scope, "slow");
      const fail = ev.find((e) => e.event === "task_fail")!;
      assert.equal(fail.error_name, "WorkerLostError");
      assert.equal(fail.reason, "worker_lost");
      assert.equal(fail.will_retry, true);
      const retry = ev.find((e) => e.event === "task_retry")!;
      assert.deepEqual([retry.attempt, retry.reason], [2, "worker_lost"]);
    } finally {
      await stopWorkers(workers, 5000);
      await sb.cleanup();
    }
  },
);

pgTest(
  "worker_lost with no retries left: the task fails, dependants skipped, run failed",
  async (scope) => {
    const sb = await clusterSandbox(scope);
    await recordAttempts(scope.sql);
    let workers: WorkerProc[] = [];
    try {
      workers = await startWorkers(sb, 1, LOST);
      await sb.write("dag.yaml", slowDag(0));
      const run = submit(sb);
      const victim = await slowRunner(scope, workers);
      victim.child.kill("SIGKILL");
      // No worker is left: the waiting submitter reaps the lost attempt itself.
      const out = await run.output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 1, stderr);
      const result = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.equal(result.status, "failed");
      const status = Object.fromEntries(result.tasks.map((t: Ev) => [t.id, t.status]));
      assert.deepEqual(status, {
        first: "success",
        quick: "success",
        slow: "failed",
        last: "skipped",
      });
      const [row] = await scope.sql<{ status: string }[]>`select status from runs`;
      assert.equal(row.status, "failed");
      const skip = (await taskEvents(scope, "last")).find((e) => e.event === "task_skipped")!;
      assert.deepEqual([skip.reason, skip.upstream], ["upstream_failed", "slow"]);
      const slowTask = result.tasks.find((t: Ev) => t.id === "slow");
      assert.match(slowTask.error, /^Task 'slow' failed after 1 attempt: Worker "[^"]+" stopped/);
    } finally {
      await stopWorkers(workers, 5000);
      await sb.cleanup();
    }
  },
);

pgTest(
  "a stalled worker's late result is ignored: no completed work is duplicated",
  async (scope) => {
    const sb = await clusterSandbox(scope);
    await recordAttempts(scope.sql);
    let workers: WorkerProc[] = [];
    try {
      workers = await startWorkers(sb, 2, LOST);
      await sb.write("dag.yaml", slowDag(1));
      const run = submit(sb);
      const victim = await slowRunner(scope, workers);
      victim.child.kill("SIGSTOP"); // silent, as behind a network cut
      const out = await run.output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr) + logs(workers));
      victim.child.kill("SIGCONT"); // it finishes attempt 1 and tries to record it
      await new Promise((r) => setTimeout(r, 4000));
      const slow = await scope.sql<{ attempt: number; state: string }[]>`
      select attempt, state from attempts where task_id = 'slow' order by attempt`;
      assert.deepEqual(slow.map((a) => [a.attempt, a.state]), [[1, "failed"], [2, "done"]]);
      const oks = (await taskEvents(scope, "slow")).filter((e) => e.event === "task_ok");
      assert.deepEqual(oks.map((e) => e.attempt), [2], "only the retry's success counts");
      const last = (await taskEvents(scope, "last")).filter((e) => e.event === "task_start");
      assert.equal(last.length, 1, "the dependant ran once");
      const [row] = await scope.sql<{ status: string; remaining: number }[]>`
      select status, remaining from runs`;
      assert.deepEqual({ ...row }, { status: "success", remaining: 0 });
    } finally {
      await stopWorkers(workers, 5000);
      await sb.cleanup();
    }
  },
);
