import assert from "node:assert/strict";
import { orch, readEvents, resetEvents, sandbox } from "../helpers/cli.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";

type Ev = Record<string, unknown>;
const ms = (e: Ev) => Date.parse(String(e.timestamp));

/** Most attempts running at once, from task_start/task_ok|task_fail times. */
function maxOverlap(events: Ev[]): number {
  const points: [number, number][] = [];
  for (const e of events) {
    if (e.event === "task_start") points.push([ms(e), 1]);
    if (e.event === "task_ok" || e.event === "task_fail") points.push([ms(e), -1]);
  }
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0, best = 0;
  for (const [, d] of points) best = Math.max(best, cur += d);
  return best;
}

Deno.test("SCHED_MAX_PARALLEL bounds the attempts running at once", async () => {
  const sb = await sandbox();
  try {
    const tasks = Array.from({ length: 6 }, (_, i) => ({
      id: `t${i}`,
      workflow_ref: "sleep",
      params: { ms: 150 },
    }));
    const dag = await sb.write("d.yaml", dagYaml("par", tasks));
    for (const [parallel, want] of [["2", 2], ["3", 3]] as const) {
      await resetEvents(sb);
      const env = { ...sb.env, WORKFLOWS_DIR: FIXTURE_WORKFLOWS, SCHED_MAX_PARALLEL: parallel };
      const r = await orch(["run", "--dag", dag, "--quiet"], { cwd: sb.dir, env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(maxOverlap(await readEvents(sb)), want);
    }
  } finally {
    await sb.cleanup();
  }
});

Deno.test("a task starts as soon as its own dependencies succeed (no level barrier)", async () => {
  const sb = await sandbox();
  try {
    const dag = await sb.write(
      "d.yaml",
      dagYaml("eager", [
        { id: "slow", workflow_ref: "sleep", params: { ms: 800 } },
        { id: "fast", workflow_ref: "sleep", params: { ms: 10 } },
        { id: "after_fast", workflow_ref: "echo", depends_on: ["fast"] },
        { id: "after_slow", workflow_ref: "echo", depends_on: ["slow"] },
      ]),
    );
    const env = { ...sb.env, WORKFLOWS_DIR: FIXTURE_WORKFLOWS, SCHED_MAX_PARALLEL: "3" };
    const r = await orch(["run", "--dag", dag, "--quiet"], { cwd: sb.dir, env });
    assert.equal(r.code, 0, r.stderr);
    const events = await readEvents(sb);
    const at = (event: string, id: string) =>
      ms(events.find((e) => e.event === event && e.task_id === id)!);
    assert.ok(at("task_start", "after_fast") < at("task_ok", "slow"));
    assert.ok(at("task_start", "after_slow") >= at("task_ok", "slow"));
  } finally {
    await sb.cleanup();
  }
});

Deno.test("a plugin stuck in a synchronous loop times out; the run goes on and the CLI exits", async () => {
  const sb = await sandbox();
  try {
    const dag = await sb.write(
      "d.yaml",
      dagYaml("hang", [
        { id: "stuck", workflow_ref: "spin", timeout_s: 0.5, retries: 1, retry_delay_s: 0 },
        { id: "a", workflow_ref: "sleep", params: { ms: 100 } },
        { id: "b", workflow_ref: "echo", depends_on: ["a"] },
      ]),
    );
    const env = { ...sb.env, WORKFLOWS_DIR: FIXTURE_WORKFLOWS, SCHED_MAX_PARALLEL: "2" };
    const t0 = Date.now();
    const r = await orch(["run", "--dag", dag, "--json"], { cwd: sb.dir, env });
    assert.ok(Date.now() - t0 < 15_000, "CLI must exit although the worker thread spins");
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout);
    const byId = Object.fromEntries(out.tasks.map((t: { id: string }) => [t.id, t]));
    assert.equal(byId.stuck.status, "failed");
    assert.equal(byId.stuck.attempts, 2);
    assert.match(byId.stuck.error, /failed after 2 attempts: Attempt timed out after 0.5s/);
    assert.equal(byId.b.status, "success");
    const fails = (await readEvents(sb)).filter((e) => e.event === "task_fail");
    assert.deepEqual(fails.map((e) => e.error_name), ["TimeoutError", "TimeoutError"]);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("concurrent runs sharing one events file never tear or interleave lines", async () => {
  const sb = await sandbox();
  try {
    const tasks = Array.from({ length: 200 }, (_, i) => ({
      id: `t${i}`,
      workflow_ref: "echo",
      params: { pad: "x".repeat(i * 20) },
      depends_on: i ? [`t${i - 1}`] : [],
    }));
    const dag = await sb.write("d.yaml", dagYaml("shared", tasks));
    const env = { ...sb.env, WORKFLOWS_DIR: FIXTURE_WORKFLOWS };
    const results = await Promise.all(
      [1, 2, 3].map(() => orch(["run", "--dag", dag, "--quiet"], { cwd: sb.dir, env })),
    );
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const events = await readEvents(sb); // throws on a torn line
    const done = events.filter((e) => e.event === "dag_done");
    assert.equal(done.length, 3);
    for (const d of done) {
      assert.equal(d.tasks_succeeded, 200);
      const mine = events.filter((e) => e.run_id === d.run_id);
      assert.equal(mine.length, 1 + 200 * 2 + 1);
    }
  } finally {
    await sb.cleanup();
  }
});
