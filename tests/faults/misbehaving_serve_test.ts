/**
 * 100 misbehaving tasks in a row under `scheduler --serve`: each fails only itself, and the
 * long-lived process keeps a bounded number of busy threads and a bounded RSS. Measured by
 * comparing with the same scheduler after 100 well-behaved tasks.
 */
import assert from "node:assert/strict";
import { readJsonl, REPO, sandbox } from "../helpers/cli.ts";
import { dagYaml } from "../helpers/dag.ts";

const PLUGINS: Record<string, string> = {
  thrower: `export default { run() { throw new Error("boom"); } };`,
  rejecter: `export default { run: async () => { throw new Error("async boom"); } };`,
  never: `export default { run: () => new Promise(() => {}) };`,
  spinner: `export default { run() { for (;;) {} } };`,
  exiter: `export default { run() { Deno.exit(1); } };`,
  chatty:
    `export default { run() { for (let i = 0; i < 3000; i++) console.log("x".repeat(100)); return {}; } };`,
  leaker:
    `export default { run: () => { globalThis.__keep = (globalThis.__keep ?? []).concat(new Array(1e5).fill(1)); return {}; } };`,
  fine: `export default { run: () => ({ ok: true }) };`,
};
const BAD = ["thrower", "rejecter", "never", "spinner", "exiter", "chatty", "leaker"];

/** Runs one DAG under `scheduler --serve` and measures the idle process afterwards. */
async function serveAndMeasure(refs: string[]) {
  const sb = await sandbox();
  for (const [name, code] of Object.entries(PLUGINS)) {
    await sb.write(`workflows/${name}.ts`, code + "\n");
  }
  const tasks = refs.map((ref, i) => ({
    id: `t${i}`,
    workflow_ref: ref,
    ...(ref === "never" || ref === "spinner" ? { timeout_s: 0.2 } : {}),
  }));
  await sb.write("dag.yaml", dagYaml("bad", tasks));
  await sb.write(
    "schedules/s.yaml",
    `- {id: s, cron: "* * * * *", dag: dag.yaml, tenant: t, enabled: true}\n`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `${REPO}/main.ts`, "scheduler", "--dir", "schedules", "--serve"],
    cwd: sb.dir,
    // Measures the serving process itself (/proc/<pid>): no supervisor.
    env: {
      ...sb.env,
      SCHED_MAX_PARALLEL: "3",
      SCHED_TICK_MS: "200",
      NO_COLOR: "1",
      ORCH_SERVE_SUPERVISOR: "0",
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    let done: Record<string, unknown> | undefined;
    for (let i = 0; i < 600 && !done; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const events = await readJsonl(sb.events).catch(() => []);
      done = events.find((e) => e.event === "dag_done");
    }
    assert.ok(done, "the run finished");
    await new Promise((r) => setTimeout(r, 500));
    const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
    const rssMb = Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
    // Threads other than tokio's (its blocking pool grows and shrinks with file I/O load,
    // so counting it made the bound depend on the machine's load): the process's own,
    // V8's and the Web Workers'.
    let threads = 0;
    let runnable = 0;
    for await (const t of Deno.readDir(`/proc/${child.pid}/task`)) {
      const comm = await Deno.readTextFile(`/proc/${child.pid}/task/${t.name}/comm`).catch(() =>
        ""
      );
      if (comm && !comm.startsWith("tokio-runtime")) threads++;
      const stat = await Deno.readTextFile(`/proc/${child.pid}/task/${t.name}/stat`).catch(() =>
        ""
      );
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "R") runnable++;
    }
    return { done, rssMb, threads, runnable };
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await sb.cleanup();
  }
}

Deno.test({
  name: "100 misbehaving tasks under --serve: each fails alone; threads and RSS stay bounded",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const bad = Array.from({ length: 100 }, (_, i) => BAD[i % BAD.length]);
    const good = await serveAndMeasure(bad.map(() => "fine"));
    const r = await serveAndMeasure(bad);
    const expectedOk = bad.filter((b) => b === "chatty" || b === "leaker").length;
    assert.equal(r.done.tasks_succeeded, expectedOk);
    assert.equal(r.done.tasks_failed, 100 - expectedOk);
    console.log(
      `after 100 misbehaving tasks: RSS ${r.rssMb.toFixed(0)} MB (100 fine: ${
        good.rssMb.toFixed(0)
      } MB), ` +
        `threads ${r.threads} (fine: ${good.threads}), runnable ${r.runnable} (fine: ${good.runnable})`,
    );
    // Spinning threads leak only until the workflow's first timeout moves it to processes:
    // at most one per worker that was running it then (SCHED_MAX_PARALLEL = 3), not one per
    // task (there were 14 spinning tasks).
    assert.ok(r.runnable <= good.runnable + 3, `runnable threads ${r.runnable}`);
    assert.ok(r.threads <= good.threads + 4, `threads ${r.threads} vs ${good.threads}`);
    assert.ok(r.rssMb - good.rssMb < 150, `RSS grew by ${(r.rssMb - good.rssMb).toFixed(0)} MB`);
  },
});
