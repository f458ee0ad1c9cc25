/**
 * Fault injection: SIGKILL `orch run` at random points (during tasks, between events,
 * mid-append) and check that the event log stays whole and consistent.
 * Runs FAULT_KILLS times (default 50) with a printed seed; `deno task test:faults`.
 */
import assert from "node:assert/strict";
import { readJsonl, REPO, sandbox } from "../helpers/cli.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";
import { seeded } from "./_fault.ts";

const KILLS = Number(Deno.env.get("FAULT_KILLS") ?? 50);
const SEED = Number(Deno.env.get("FAULT_SEED") ?? Date.now() % 100_000);

/** Checks one run's events form a valid prefix of a run. */
function checkRun(events: Record<string, unknown>[]): void {
  assert.equal(events[0].event, "dag_start");
  const started = new Set<string>();
  const finished = new Set<string>();
  for (const e of events.slice(1)) {
    const key = `${e.task_id}#${e.attempt}`;
    if (e.event === "task_start") {
      assert.ok(!started.has(key), `duplicate start ${key}`);
      started.add(key);
    }
    if (e.event === "task_ok" || e.event === "task_fail") {
      assert.ok(started.has(key), `${e.event} without task_start for ${key}`);
      assert.ok(!finished.has(key), `duplicate end ${key}`);
      finished.add(key);
    }
  }
}

Deno.test(`SIGKILL of orch run at ${KILLS} random points leaves a whole, consistent log (seed ${SEED})`, async () => {
  const sb = await sandbox();
  const random = seeded(SEED);
  try {
    const tasks = Array.from({ length: 60 }, (_, i) => ({
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
    let killed = 0;
    for (let i = 0; i < KILLS; i++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", `${REPO}/main.ts`, "run", "--dag", dag, "--quiet"],
        cwd: sb.dir,
        env,
        stdout: "null",
        stderr: "null",
      }).spawn();
      const delay = 60 + Math.floor(random() * 700);
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
    const events = await readJsonl(sb.events); // throws on a torn line
    const byRun = new Map<string, Record<string, unknown>[]>();
    for (const e of events) {
      const list = byRun.get(String(e.run_id)) ?? [];
      list.push(e);
      byRun.set(String(e.run_id), list);
    }
    for (const run of byRun.values()) checkRun(run);
  } finally {
    await sb.cleanup();
  }
});
