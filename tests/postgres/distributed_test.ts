import assert from "node:assert/strict";
import { orch, sandbox } from "../helpers/cli.ts";
import { FIXTURES, spawnOrch } from "../e2e/_sched.ts";
import { collectStderr, pgTest } from "./_pg.ts";

/** 4 layers of 5 echo tasks; each task after the first layer depends on two of the layer before. */
function layeredDag(): string {
  const tasks = [];
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
  return JSON.stringify({ name: "layers", tenant_id: "t", tasks });
}

type Row = { task_id: string; attempt: number; state: string; claimed_by: string; output: unknown };

pgTest(
  "orch run --distributed with two orch worker processes: every task once, payloads as in a local run",
  async (scope) => {
    const sb = await sandbox();
    sb.env.WORKFLOWS_DIR = FIXTURES;
    sb.env.ORCH_STORE = scope.url;
    const workers: Deno.ChildProcess[] = [];
    try {
      await sb.write("dag.yaml", layeredDag());
      for (let k = 0; k < 2; k++) workers.push(spawnOrch(["worker"], sb));
      const errs = workers.map(collectStderr);
      const logs = () => errs.map((e) => e.text()).join("\n");
      const end = Date.now() + 20_000;
      while (!errs.every((e) => /serving/.test(e.text()))) {
        if (Date.now() > end) throw new Error(`workers did not start:\n${logs()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const started = performance.now();
      const r = await orch(["run", "--dag", "dag.yaml", "--distributed", "--json"], {
        cwd: sb.dir,
        env: sb.env,
      });
      console.log(`20-task DAG on 2 workers: ${(performance.now() - started).toFixed(0)} ms`);
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout);
      assert.equal(result.status, "success");
      const rows = await scope.sql<Row[]>`
        select task_id, attempt, state, claimed_by, output from task_queue order by task_id`;
      assert.equal(rows.length, 20, "every task queued once");
      assert.equal(new Set(rows.map((x) => x.task_id)).size, 20);
      assert.ok(rows.every((x) => x.state === "done" && x.attempt === 1));
      assert.equal(new Set(rows.map((x) => x.claimed_by)).size, 2, "both workers claimed tasks");
      // The same DAG run locally (same store, no --distributed) gives the same outputs.
      const local = await orch(["run", "--dag", "dag.yaml", "--json"], {
        cwd: sb.dir,
        env: sb.env,
      });
      assert.equal(local.code, 0, local.stderr);
      const runId = JSON.parse(local.stdout).run_id;
      const ok = await scope.sql<{ task_id: string; output: unknown }[]>`
        select body->>'task_id' as task_id, body->'output' as output from events
        where run_id = ${runId} and event = 'task_ok'`;
      assert.equal(ok.length, 20);
      const byTask = new Map(rows.map((x) => [x.task_id, x.output]));
      for (const e of ok) assert.deepEqual(byTask.get(e.task_id), e.output, e.task_id);
      const last = byTask.get("t3_0") as Record<string, unknown>;
      assert.equal(last.t2_0__t1_0__t0_0__n, 0, "upstream outputs flowed three levels");
      for (const w of workers) w.kill("SIGTERM");
      const codes = await Promise.all(workers.map((w) => w.status));
      await Promise.all(errs.map((e) => e.done));
      assert.deepEqual(codes.map((c) => c.code), [0, 0], logs());
    } finally {
      for (const w of workers) {
        try {
          w.kill("SIGKILL");
        } catch { /* gone */ }
        await w.status;
      }
      await sb.cleanup();
    }
  },
);

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
  } finally {
    await sb.cleanup();
  }
});
