import assert from "node:assert/strict";
import { ON_PG } from "../helpers/backend.ts";
import { orch, readEvents, readState } from "../helpers/cli.ts";
import { notNowCron, schedSandbox, schedules, spawnOrch, until } from "./_sched.ts";

const OK_DAG = JSON.stringify({
  name: "ok_dag",
  tenant_id: "t",
  tasks: [{ id: "a", workflow_ref: "echo", params: { x: 1 } }],
});
const SLOW_DAG = JSON.stringify({
  name: "slow_dag",
  tenant_id: "t",
  tasks: [{ id: "wait", workflow_ref: "sleep", params: { ms: 30_000 } }],
});

// The next-due index is a JSONL-store feature (src/schedule/next_due.ts).
Deno.test({
  name:
    "scheduler --once answers quiet minutes from the next-due index, and not once anything changed",
  ignore: ON_PG,
  fn: async (t) => {
    const sb = await schedSandbox();
    const once = () =>
      orch(["scheduler", "--dir", "sched", "--once"], { cwd: sb.dir, env: sb.env });
    const index = `${sb.state}.next_due.json`;
    const marks = `${sb.state}.watermarks.json`;
    const mtime = async (p: string) => (await Deno.stat(p)).mtime?.getTime();
    try {
      await sb.write("dags/ok.yaml", OK_DAG);
      await sb.write("dags/slow.yaml", SLOW_DAG);
      await schedules(sb, [{ id: "later", cron: notNowCron(), dag: "dags/ok.yaml" }]);

      await t.step("quiet ticks record the index; the next one skips the full tick", async () => {
        // The first tick creates the state file, so the second records an index that holds.
        for (let i = 0; i < 2; i++) {
          const r = await once();
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stderr, /Nothing due/);
        }
        assert.ok((await Deno.stat(index)).isFile);
        const before = await mtime(marks);
        const r = await once();
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, "Nothing due\n");
        // A full tick would have moved (rewritten) the watermarks.
        assert.equal(await mtime(marks), before);
      });

      await t.step("an edited schedule that is due now runs at once", async () => {
        await schedules(sb, [
          { id: "later", cron: notNowCron(), dag: "dags/ok.yaml" },
          { id: "now", cron: "* * * * *", dag: "dags/ok.yaml" },
        ]);
        const r = await once();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /enqueued now .* as run /);
        const fin = (await readState(sb)).filter((e) => e.event === "run_finished");
        assert.deepEqual(fin.map((e) => e.status), ["success"]);
      });

      await t.step("a DAG made invalid is reported even when nothing is due", async () => {
        await schedules(sb, [{ id: "later", cron: notNowCron(), dag: "dags/ok.yaml" }]);
        for (let i = 0; i < 2; i++) assert.equal((await once()).code, 0);
        assert.equal((await once()).stderr, "Nothing due\n");
        await sb.write("dags/ok.yaml", OK_DAG.replace('"echo"', '"no_such_workflow"'));
        const r = await once();
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /no_such_workflow/);
        await sb.write("dags/ok.yaml", OK_DAG);
      });

      await t.step("a run that died after the index was written is recovered", async () => {
        for (let i = 0; i < 2; i++) assert.equal((await once()).code, 0);
        assert.equal((await once()).stderr, "Nothing due\n");
        const child = spawnOrch(["run", "--dag", "dags/slow.yaml"], sb);
        const out = child.output();
        const started = (e: Record<string, unknown>) =>
          e.event === "task_start" && e.task_id === "wait";
        await until(async () => (await readEvents(sb)).some(started));
        child.kill("SIGKILL");
        await out;
        const r = await once();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /recovered run .* as interrupted/);
        const fin = (await readState(sb)).filter((e) => e.event === "run_finished");
        assert.equal(fin.at(-1)?.status, "interrupted");
      });
    } finally {
      await sb.cleanup();
    }
  },
});
