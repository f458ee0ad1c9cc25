/**
 * Fault injection: SIGKILL `orch run` at random points (during tasks, between events,
 * mid-append) and check that the event log stays whole and consistent, and that the
 * next `orch runs` recovers every killed run as `interrupted` with nothing acknowledged
 * lost. Runs FAULT_KILLS times (default 50; 20 on PostgreSQL) with a printed seed;
 * `deno task test:faults`, and on the PostgreSQL store (ORCH_TEST_BACKEND=postgres, local
 * execution, events in the `events` table) `deno task test:faults:pg`.
 */
import assert from "node:assert/strict";
import { orch, readEvents, readState, REPO, sandbox } from "../helpers/cli.ts";
import { BACKEND, ON_PG } from "../helpers/backend.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";
import { checkEventLog, checkStateInvariants, seeded } from "./_fault.ts";

const KILLS = Number(Deno.env.get("FAULT_KILLS") ?? (ON_PG ? 20 : 50));
const SEED = Number(Deno.env.get("FAULT_SEED") ?? Date.now() % 100_000);
const TASKS = 60;

/**
 * Checks one run's events form a valid prefix of a run, with nothing acknowledged lost:
 * `t<i>` starts only after `t<i-2>` succeeded, so a recorded start of `t<i>` must come
 * after a recorded `task_ok` of `t<i-2>`; a run recorded `success` has all its tasks' ends.
 */
function checkRun(events: Record<string, unknown>[], status: unknown): void {
  assert.equal(events[0].event, "dag_start");
  const started = new Set<string>();
  const finished = new Set<string>();
  const ok = new Set<string>();
  for (const e of events.slice(1)) {
    const key = `${e.task_id}#${e.attempt}`;
    if (e.event === "task_start") {
      assert.ok(!started.has(key), `duplicate start ${key}`);
      started.add(key);
      const i = Number(String(e.task_id).slice(1));
      if (i >= 2) assert.ok(ok.has(`t${i - 2}`), `${key} started, t${i - 2}'s task_ok lost`);
    }
    if (e.event === "task_ok" || e.event === "task_fail") {
      assert.ok(started.has(key), `${e.event} without task_start for ${key}`);
      assert.ok(!finished.has(key), `duplicate end ${key}`);
      finished.add(key);
      if (e.event === "task_ok") ok.add(String(e.task_id));
    }
  }
  if (status === "success") assert.equal(ok.size, TASKS, "a successful run lost task_ok events");
}

/** How long an unkilled run of the DAG takes (kill delays cover it on PostgreSQL). */
async function lifeMs(args: string[], env: Record<string, string>, cwd: string): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), { args, cwd, env, stdout: "null" }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return performance.now() - t0;
}

Deno.test(`SIGKILL of orch run at ${KILLS} random points: a whole, consistent log, killed runs recovered interrupted, nothing acknowledged lost (seed ${SEED}, ${BACKEND})`, async () => {
  const sb = await sandbox();
  const random = seeded(SEED);
  try {
    const tasks = Array.from({ length: TASKS }, (_, i) => ({
      id: `t${i}`,
      workflow_ref: i % 3 === 0 ? "logger" : i % 3 === 1 ? "sleep" : "echo",
      params: { ms: 30, pad: "y".repeat(1 + (i * 97) % 3000) },
      depends_on: i >= 2 ? [`t${i - 2}`] : [],
    }));
    const dag = await sb.write("d.yaml", dagYaml("kill", tasks));
    const env = {
      ...sb.env,
      WORKFLOWS_DIR: FIXTURE_WORKFLOWS,
      NO_COLOR: "1",
      RUST_BACKTRACE: "0",
    };
    const args = ["run", "-A", "--quiet", `${REPO}/main.ts`, "run", "--dag", dag, "--quiet"];
    // JSONL: 60-760 ms after the spawn. PostgreSQL starts slower (connect, migrations
    // check): 35-100 % of an unkilled run's life, so kills land inside runs there too.
    const life = ON_PG ? await lifeMs(args, env, sb.dir) : 0;
    let killed = 0;
    for (let i = 0; i < KILLS; i++) {
      const child = new Deno.Command(Deno.execPath(), {
        args,
        cwd: sb.dir,
        env,
        stdout: "null",
        stderr: "null",
      }).spawn();
      const delay = ON_PG
        ? Math.floor(life * (0.35 + random() * 0.65))
        : 60 + Math.floor(random() * 700);
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
          killed++;
        } catch { /* already exited */ }
      }, delay);
      await child.status;
      clearTimeout(timer);
    }
    assert.ok(killed > KILLS / 2, `only ${killed} of ${KILLS} runs were killed mid-way`);
    // The next command recovers the killed runs (their processes are gone).
    const runs = await orch(["runs", "--json", "--limit", "1000"], { cwd: sb.dir, env });
    assert.equal(runs.code, 0, runs.stderr);
    const rows = JSON.parse(runs.stdout) as Record<string, unknown>[];
    assert.deepEqual(rows.filter((r) => r.status === "running"), [], "runs left running");
    const finished = checkStateInvariants(await readState(sb));
    const statuses = [...finished.values()].map((e) => e.status);
    assert.ok(statuses.every((s) => s === "success" || s === "interrupted"), String(statuses));
    const interrupted = statuses.filter((s) => s === "interrupted").length;
    const events = await readEvents(sb); // JSONL: throws on a torn line
    checkEventLog(events);
    const byRun = new Map<string, Record<string, unknown>[]>();
    for (const e of events) {
      const list = byRun.get(String(e.run_id)) ?? [];
      list.push(e);
      byRun.set(String(e.run_id), list);
    }
    for (const [runId, run] of byRun) checkRun(run, finished.get(runId)?.status);
    assert.ok(interrupted > 0, "no kill landed inside a run");
    console.log(
      `${killed}/${KILLS} killed, ${byRun.size} runs recorded, ${interrupted} recovered ` +
        `as interrupted${ON_PG ? `, unkilled life ${Math.round(life)} ms` : ""}`,
    );
  } finally {
    await sb.cleanup();
  }
});
