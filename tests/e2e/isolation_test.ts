import assert from "node:assert/strict";
import { readEvents, REPO, sandbox } from "../helpers/cli.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";

/** Threads of a process that are running or runnable (state R in /proc). */
async function runnableThreads(pid: number): Promise<number> {
  let n = 0;
  for await (const t of Deno.readDir(`/proc/${pid}/task`)) {
    const stat = await Deno.readTextFile(`/proc/${pid}/task/${t.name}/stat`).catch(() => "");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "R") n++;
  }
  return n;
}

Deno.test({
  name: "a spinning plugin leaks at most one thread; a memory hog in a process fails alone",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const sb = await sandbox();
    try {
      for (const f of ["spin.ts", "sleep.ts", "echo.ts"]) {
        await Deno.copyFile(`${FIXTURE_WORKFLOWS}/${f}`, `${sb.workflows}/${f}`);
      }
      await sb.write(
        "workflows/hog.ts",
        `export default { isolation: "process", memoryMb: 64,
          run() { const a = []; for (;;) a.push(new Array(1e5).fill(a.length)); } };\n`,
      );
      const dag = await sb.write(
        "d.yaml",
        dagYaml("iso", [
          { id: "spin", workflow_ref: "spin", timeout_s: 0.3, retries: 5, retry_delay_s: 0 },
          { id: "hog", workflow_ref: "hog" },
          { id: "after", workflow_ref: "echo" },
          { id: "keep", workflow_ref: "sleep", params: { ms: 8000 } },
        ]),
      );
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", `${REPO}/main.ts`, "run", "--dag", dag, "--json"],
        cwd: sb.dir,
        env: { ...sb.env, SCHED_MAX_PARALLEL: "2", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // Wait until all 6 spin attempts have timed out, while `keep` holds the process open.
      let fails = 0;
      for (let i = 0; i < 100 && fails < 6; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const events = await readEvents(sb).catch(() => []);
        fails = events.filter((e) => e.event === "task_fail" && e.task_id === "spin").length;
      }
      assert.equal(fails, 6, "all attempts of spin timed out");
      await new Promise((r) => setTimeout(r, 300));
      // Without process isolation each timeout would leave one more thread spinning.
      const busy = await runnableThreads(child.pid);
      const out = await child.output();
      assert.ok(busy <= 2, `${busy} runnable threads: leaked spinning threads pile up`);
      const result = JSON.parse(new TextDecoder().decode(out.stdout));
      const byId = Object.fromEntries(
        result.tasks.map((t: { id: string }) => [t.id, t]),
      ) as Record<string, { status: string; error?: string; attempts: number }>;
      assert.equal(byId.spin.attempts, 6);
      assert.match(byId.hog.error!, /Worker process exited .*out of memory/);
      assert.equal(byId.after.status, "success");
      assert.equal(byId.keep.status, "success");
    } finally {
      await sb.cleanup();
    }
  },
});
