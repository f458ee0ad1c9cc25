import assert from "node:assert/strict";
import { orch, sandbox } from "../helpers/cli.ts";
import { FIXTURES, freshMinute, schedules, spawnOrch } from "../e2e/_sched.ts";
import { pgTest } from "./_pg.ts";
import {
  cli,
  clusterSandbox,
  dagText,
  eventually,
  logs,
  recordAttempts,
  startWorkers,
  stopWorkers,
  type WorkerProc,
} from "./_cluster.ts";

/** 4 layers of 5 echo tasks (two dependencies each after the first) and a logger. */
function layeredDag(): string {
  const tasks: Record<string, unknown>[] = [];
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 5; j++) {
      tasks.push({
        id: `t${i}_${j}`,
        workflow_ref: "echo",
        params: { n: i * 5 + j },
        ...(i > 0 ? { depends_on: [`t${i - 1}_${j}`, `t${i - 1}_${(j + 1) % 5}`] } : {}),
      });
    }
  }
  tasks.push({ id: "talk", workflow_ref: "logger", depends_on: ["t3_0"] });
  return dagText("layers", tasks);
}

type Ev = Record<string, unknown>;

/** Each event kind to the sorted union of its keys. */
function shapes(events: readonly Ev[]): Map<string, string> {
  const out = new Map<string, Set<string>>();
  for (const e of events) {
    const keys = out.get(String(e.event)) ?? new Set<string>();
    for (const k of Object.keys(e)) keys.add(k);
    out.set(String(e.event), keys);
  }
  return new Map([...out].map(([k, v]) => [k, [...v].sort().join(",")]));
}

pgTest("distributed execution with two orch worker processes", async (scope, t) => {
  const sb = await clusterSandbox(scope);
  await recordAttempts(scope.sql);
  let workers: WorkerProc[] = [];
  const events = async (runId: string) =>
    (await scope.sql<{ body: Ev }[]>`select body from events where run_id = ${runId} order by id`)
      .map((r) => r.body);
  const runStatus = async (runId: string) =>
    (await scope.sql<{ status: string }[]>`select status from runs where run_id = ${runId}`)[0]
      ?.status;
  try {
    workers = await startWorkers(sb, 2, { ORCH_WORKER_LOST_MS: "3000" });

    await t.step("every task once, payloads, events and summary as in a local run", async () => {
      await sb.write("dag.yaml", layeredDag());
      const r = await cli(sb, ["run", "--dag", "dag.yaml", "--distributed"]);
      assert.equal(r.code, 0, r.stderr + logs(workers));
      const runId = /run layers (\S+)/.exec(r.stderr)![1];
      const rows = await scope.sql<
        { task_id: string; attempt: number; state: string; by: string }[]
      >`
        select task_id, attempt, state, claimed_by as by from attempts
        where run_id = ${runId} order by task_id`;
      assert.equal(rows.length, 21, "one attempt per task");
      assert.equal(new Set(rows.map((x) => x.task_id)).size, 21);
      assert.ok(rows.every((x) => x.state === "done" && x.attempt === 1));
      assert.equal(new Set(rows.map((x) => x.by)).size, 2, "both workers claimed tasks");
      // ctx.log lines: task_log events and progress lines.
      const got = await events(runId);
      const logged = got.filter((e) => e.event === "task_log").map((e) => e.message);
      assert.deepEqual(logged, ["first line", "second line"]);
      assert.match(r.stderr, /log {3}talk: first line/);
      // The same DAG locally: same outputs, same event kinds and fields, same summary.
      const local = await cli(sb, ["run", "--dag", "dag.yaml"]);
      assert.equal(local.code, 0, local.stderr);
      const localId = /run layers (\S+)/.exec(local.stderr)![1];
      const want = await events(localId);
      const outputs = (es: Ev[]) =>
        new Map(es.filter((e) => e.event === "task_ok").map((e) => [e.task_id, e.output]));
      assert.deepEqual(outputs(got), outputs(want));
      const last = outputs(got).get("t3_0") as Record<string, unknown>;
      assert.equal(last.t2_0__t1_0__t0_0__n, 0, "upstream outputs flowed three levels");
      assert.deepEqual(shapes(got), shapes(want));
      const strip = (s: string) => s.replace(/Duration: .*/, "");
      assert.equal(strip(r.stdout), strip(local.stdout));
      assert.equal(await runStatus(runId), "success");
    });

    await t.step("retries with backoff; a failure skips dependants, exit 1", async () => {
      await sb.write(
        "flaky.yaml",
        dagText("flaky", [
          {
            id: "f",
            workflow_ref: "flaky",
            params: { fail_times: 2 },
            retries: 2,
            retry_delay_s: 0.2,
          },
          { id: "after_f", workflow_ref: "echo", depends_on: ["f"] },
          { id: "bad", workflow_ref: "fail" },
          { id: "after_bad", workflow_ref: "echo", depends_on: ["bad"] },
          { id: "after_after", workflow_ref: "echo", depends_on: ["after_bad"] },
          { id: "free", workflow_ref: "echo" },
        ]),
      );
      const r = await cli(sb, ["run", "--dag", "flaky.yaml", "--distributed", "--json"]);
      assert.equal(r.code, 1, r.stderr);
      const result = JSON.parse(r.stdout);
      const status = Object.fromEntries(
        result.tasks.map((x: Ev) => [x.id, `${x.status}/${x.attempts}`]),
      );
      assert.deepEqual(status, {
        f: "success/3",
        after_f: "success/1",
        bad: "failed/1",
        after_bad: "skipped/0",
        after_after: "skipped/0",
        free: "success/1",
      });
      const got = await events(result.run_id);
      const retries = got.filter((e) => e.event === "task_retry");
      assert.deepEqual(retries.map((e) => e.attempt), [2, 3]);
      const f = got.filter((e) => e.task_id === "f" && e.event === "task_start");
      const gap = Date.parse(String(f[1].timestamp)) -
        Date.parse(
          String(got.find((e) => e.event === "task_fail" && e.task_id === "f")!.timestamp),
        );
      assert.ok(gap >= 140, `the retry waited its backoff (${gap} ms)`);
      const skipped = got.filter((e) => e.event === "task_skipped");
      assert.deepEqual(skipped.map((e) => [e.task_id, e.reason, e.upstream]).sort(), [
        ["after_after", "upstream_failed", "bad"],
        ["after_bad", "upstream_failed", "bad"],
      ]);
      assert.equal(got.at(-1)!.event, "dag_done");
      assert.equal(got.at(-1)!.status, "failed");
    });

    await t.step("run --detach returns at once; the workers finish; runs shows it", async () => {
      await sb.write(
        "slowish.yaml",
        dagText("slowish", [
          { id: "a", workflow_ref: "sleep", params: { ms: 2000 } },
          { id: "b", workflow_ref: "echo", depends_on: ["a"] },
        ]),
      );
      const r = await cli(sb, ["run", "--dag", "slowish.yaml", "--distributed", "--detach"]);
      assert.equal(r.code, 0, r.stderr);
      const runId = r.stdout.trim();
      assert.match(runId, /^\d{8}T\d{9}Z-/);
      const listed = async () => {
        const runs = await cli(sb, ["runs", "--json"]);
        assert.equal(runs.code, 0, runs.stderr);
        assert.doesNotMatch(runs.stderr, /Recovered/, "a cluster run is never 'interrupted'");
        return JSON.parse(runs.stdout).find((x: Ev) => x.run_id === runId).status;
      };
      assert.equal(await listed(), "running", "its submitter exited; the run goes on");
      await eventually(async () => (await runStatus(runId)) === "success");
      assert.equal(await listed(), "success");
      const json = await cli(sb, ["run", "--dag", "slowish.yaml", "--detach", "--json"], {
        ORCH_EXECUTION: "distributed",
      });
      assert.equal(json.code, 0, json.stderr);
      const detached = JSON.parse(json.stdout).run_id;
      await eventually(async () => (await runStatus(detached)) === "success");
    });

    await t.step("orch retry of a failed distributed run reuses succeeded outputs", async () => {
      await sb.write(
        "retry.yaml",
        dagText("retry", [
          { id: "a", workflow_ref: "echo", params: { x: 1 } },
          { id: "b", workflow_ref: "fail_first_time", params: { marker: "m" }, depends_on: ["a"] },
          { id: "c", workflow_ref: "echo", depends_on: ["b"] },
          { id: "d", workflow_ref: "echo" },
        ]),
      );
      const first = await cli(sb, ["run", "--dag", "retry.yaml", "--distributed", "--json"]);
      assert.equal(first.code, 1, first.stderr);
      const failedId = JSON.parse(first.stdout).run_id;
      const r = await cli(sb, ["retry", failedId, "--json"], { ORCH_EXECUTION: "distributed" });
      assert.equal(r.code, 0, r.stderr + logs(workers));
      const result = JSON.parse(r.stdout);
      assert.equal(result.retry_of, failedId);
      const attempts = Object.fromEntries(result.tasks.map((x: Ev) => [x.id, x.attempts]));
      assert.deepEqual(attempts, { a: 0, b: 1, c: 1, d: 0 });
      const ran = await scope.sql<{ task_id: string }[]>`
        select task_id from attempts where run_id = ${result.run_id} order by task_id`;
      assert.deepEqual(ran.map((x) => x.task_id), ["b", "c"], "reused tasks did not run");
      const reused = (await events(result.run_id)).filter((e) => e.reused_from === failedId);
      assert.deepEqual(reused.map((e) => e.task_id).sort(), ["a", "d"]);
      const c = result.tasks.find((x: Ev) => x.id === "c");
      assert.equal(c.output.b__second, true);
    });

    await t.step("an output over the size limit fails its task with a clear error", async () => {
      await sb.write(
        "big.yaml",
        dagText("big", [{ id: "blob", workflow_ref: "fault_blob", params: { kb: 1100 } }]),
      );
      const r = await cli(sb, ["run", "--dag", "big.yaml", "--distributed"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /Cannot store the output of task "blob" \(run "[^"]+", attempt 1\): \d+ bytes is over the limit of 1048576 bytes/,
      );
    });

    await t.step(
      "scheduler --once with ORCH_EXECUTION=distributed submits to the cluster",
      async () => {
        await freshMinute(20);
        await sb.write("sched-dag.yaml", dagText("sched", [{ id: "only", workflow_ref: "echo" }]));
        await schedules(sb, [{ id: "every", cron: "* * * * *", dag: "sched-dag.yaml" }]);
        const r = await cli(sb, ["scheduler", "--once", "--dir", "sched"], {
          ORCH_EXECUTION: "distributed",
        });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /submitted run \S+ of every to the cluster/);
        const [row] = await eventually(() =>
          scope.sql<{ run_id: string; status: string; trigger: string }[]>`
          select run_id, status, trigger from runs
          where schedule_id = 'every' and status = 'success'`.then((x) => x.length ? x : null)
        );
        assert.equal(row.trigger, "schedule");
        const ran = await scope.sql`select 1 from attempts where run_id = ${row.run_id}`;
        assert.equal(ran.length, 1, "a worker ran the task");
      },
    );

    await t.step("SIGINT of a foreground distributed run cancels it cluster-wide", async () => {
      await sb.write(
        "long.yaml",
        dagText("long", [
          { id: "long", workflow_ref: "sleep", params: { ms: 60_000 } },
          { id: "after", workflow_ref: "echo", depends_on: ["long"] },
        ]),
      );
      const child = spawnOrch(["run", "--dag", "long.yaml", "--distributed"], sb);
      const [row] = await eventually(() =>
        scope.sql<{ run_id: string }[]>`
          select q.run_id from task_queue q join runs r using (run_id)
          where r.dag_name = 'long' and q.state = 'running'`.then((x) => x.length ? x : null)
      );
      child.kill("SIGINT");
      const out = await child.output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 130, stderr);
      assert.equal(await runStatus(row.run_id), "cancelled");
      const got = await events(row.run_id);
      const fail = got.find((e) => e.event === "task_fail")!;
      assert.equal(fail.error_name, "CancelledError");
      const skip = got.find((e) => e.event === "task_skipped")!;
      assert.deepEqual([skip.task_id, skip.reason], ["after", "cancelled"]);
      const [state] = await scope.sql<{ event: string; status: string }[]>`
        select event, body->>'status' as status from state_events
        where run_id = ${row.run_id} order by id desc limit 1`;
      assert.deepEqual({ ...state }, { event: "run_finished", status: "cancelled" });
      const queue = await scope.sql`select 1 from task_queue
        where run_id = ${row.run_id} and state in ('queued', 'running')`;
      assert.equal(queue.length, 0, "no attempt left queued or running");
    });

    await t.step("SIGINT the moment the run is submitted still cancels it", async () => {
      // Before the fix the signal listener came after the submit and two module loads: a
      // signal in between killed the submitter (exit 130 all the same) and left the run
      // running on the workers.
      await sb.write(
        "soon.yaml",
        dagText("soon", [
          { id: "first", workflow_ref: "sleep", params: { ms: 60_000 } },
          { id: "then", workflow_ref: "echo", depends_on: ["first"] },
        ]),
      );
      const child = spawnOrch(["run", "--dag", "soon.yaml", "--distributed"], sb);
      let runId: string | undefined;
      for (const end = Date.now() + 30_000; !runId && Date.now() < end;) {
        const rows = await scope.sql<{ run_id: string }[]>`
          select run_id from runs where dag_name = 'soon'`;
        runId = rows[0]?.run_id;
        if (!runId) await new Promise((r) => setTimeout(r, 2));
      }
      assert.ok(runId, "the run was submitted");
      child.kill("SIGINT");
      const out = await child.output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 130, stderr);
      assert.match(stderr, /Received SIGINT: cancelling the run/);
      assert.equal(await runStatus(runId), "cancelled");
      const queue = await scope.sql`select 1 from task_queue
        where run_id = ${runId} and state in ('queued', 'running')`;
      assert.equal(queue.length, 0, "no attempt left queued or running");
    });

    // The 60 s attempt was aborted by its worker (ctx.signal) at a heartbeat: workers stop
    // in time, which they would not while it ran.
    const stopped = await stopWorkers(workers, 10_000);
    workers = [];
    assert.deepEqual(stopped, [{ code: 0, inTime: true }, { code: 0, inTime: true }]);
  } finally {
    await stopWorkers(workers, 1000);
    await sb.cleanup();
  }
});

pgTest("orch run --distributed refuses a JSONL store with exit 2", async () => {
  const sb = await sandbox();
  try {
    await sb.write("dag.yaml", layeredDag());
    const r = await orch(["run", "--dag", "dag.yaml", "--distributed"], {
      cwd: sb.dir,
      env: { ...sb.env, ORCH_STORE: "jsonl", WORKFLOWS_DIR: FIXTURES },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /Distributed execution needs a PostgreSQL store/);
    const d = await orch(["run", "--dag", "dag.yaml", "--detach"], {
      cwd: sb.dir,
      env: { ...sb.env, ORCH_STORE: "jsonl", WORKFLOWS_DIR: FIXTURES },
    });
    assert.equal(d.code, 2, d.stderr);
    assert.match(d.stderr, /--detach needs distributed execution/);
  } finally {
    await sb.cleanup();
  }
});
