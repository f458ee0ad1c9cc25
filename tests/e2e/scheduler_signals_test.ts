import assert from "node:assert/strict";
import { orch, readEvents, readState } from "../helpers/cli.ts";
import { freshMinute, schedSandbox, schedules, spawnOrch, until } from "./_sched.ts";

const SLOW_DAG = JSON.stringify({
  name: "slow_dag",
  tenant_id: "t",
  tasks: [{ id: "wait", workflow_ref: "sleep", params: { ms: 30_000 } }],
});

Deno.test("orch scheduler --serve stops on SIGTERM: the run is cancelled and recorded, exit 0", async () => {
  const sb = await schedSandbox();
  try {
    await sb.write("dags/slow.yaml", SLOW_DAG);
    await freshMinute(20);
    await schedules(sb, [{ id: "slow", cron: "* * * * *", dag: "dags/slow.yaml" }]);
    const child = spawnOrch(["scheduler", "--dir", "sched", "--serve"], sb, {
      SCHED_TICK_MS: "200",
      ORCH_SHUTDOWN_GRACE_MS: "300",
    });
    const out = child.output();
    await until(async () => (await readState(sb)).some((e) => e.event === "run_started"));
    child.kill("SIGTERM");
    const r = await out;
    const stderr = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, stderr);
    assert.match(stderr, /Received SIGTERM/);
    const state = await readState(sb);
    assert.equal(state.filter((e) => e.event === "schedule_enqueued").length, 1);
    const fin = state.filter((e) => e.event === "run_finished");
    assert.equal(fin.length, 1);
    assert.equal(fin[0].status, "cancelled");
    const done = (await readEvents(sb)).find((e) => e.event === "dag_done");
    assert.equal(done?.status, "cancelled");
  } finally {
    await sb.cleanup();
  }
});

Deno.test("a SIGKILLed run is recorded as interrupted by orch runs, once", async () => {
  const sb = await schedSandbox();
  try {
    await sb.write("dags/slow.yaml", SLOW_DAG);
    const child = spawnOrch(["run", "--dag", "dags/slow.yaml"], sb);
    const out = child.output();
    await until(async () => (await readEvents(sb)).some((e) => e.event === "task_start"));
    child.kill("SIGKILL");
    await out;
    const runs = await orch(["runs", "--json"], { cwd: sb.dir, env: sb.env });
    assert.equal(runs.code, 0, runs.stderr);
    assert.match(runs.stderr, /Recovered run .*: Interrupted: process \d+ on ".*" is gone/);
    const rows = JSON.parse(runs.stdout);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].status, "interrupted");
    assert.equal(rows[0].dag_name, "slow_dag");
    assert.equal(rows[0].trigger, "manual");
    const done = (await readEvents(sb)).filter((e) => e.event === "dag_done");
    assert.equal(done.length, 1);
    assert.equal(done[0].status, "interrupted");
    const again = await orch(["runs", "--json"], { cwd: sb.dir, env: sb.env });
    assert.doesNotMatch(again.stderr, /Recovered/);
    const fin = (await readState(sb)).filter((e) => e.event === "run_finished");
    assert.equal(fin.length, 1);
    const text = await orch(["runs", "--status", "interrupted"], { cwd: sb.dir, env: sb.env });
    assert.match(text.stdout, /^RUN_ID\s+SCHEDULE\s+DAG\s+STATUS/);
    assert.match(text.stdout, /slow_dag\s+interrupted/);
  } finally {
    await sb.cleanup();
  }
});
