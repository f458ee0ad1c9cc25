/** `orch worker --concurrency N --name NAME`: the pool's size, the claimant's name. */
import assert from "node:assert/strict";
import { collectStderr, pgTest } from "./_pg.ts";
import { cli, clusterSandbox, dagText, eventually, stopWorkers } from "./_cluster.ts";
import { spawnOrch } from "../e2e/_sched.ts";

pgTest(
  "orch worker --concurrency 5 --name runs five attempts at once as that name",
  async (scope) => {
    const sb = await clusterSandbox(scope);
    const child = spawnOrch(["worker", "--concurrency", "5", "--name", "big-a"], sb, {
      SCHED_MAX_PARALLEL: "2",
    });
    const err = collectStderr(child);
    const worker = { child, log: err.text, done: err.done };
    try {
      await eventually(() => Promise.resolve(/serving/.test(err.text())), 30_000);
      assert.match(err.text(), /worker big-a: serving .*, 5 at a time/);
      const tasks = Array.from({ length: 6 }, (_, i) => ({
        id: `s${i}`,
        workflow_ref: "sleep",
        params: { ms: 2500 },
      }));
      await sb.write("wide.yaml", dagText("wide", tasks));
      const run = cli(sb, ["run", "--dag", "wide.yaml", "--distributed", "--json"]);
      // Five run together (SCHED_MAX_PARALLEL is 2: the flag wins), the sixth waits.
      const rows = await eventually(() =>
        scope.sql<{ claimed_by: string }[]>`
        select claimed_by from task_queue where state = 'running'`
          .then((x) => x.length === 5 ? x : null), 20_000);
      assert.deepEqual([...new Set(rows.map((r) => r.claimed_by))], ["big-a"]);
      const [{ queued }] = await scope.sql<{ queued: number }[]>`
      select count(*)::int as queued from task_queue where state = 'queued'`;
      assert.equal(queued, 1);
      const r = await run;
      assert.equal(r.code, 0, r.stderr + err.text());
      assert.equal(JSON.parse(r.stdout).status, "success");
    } finally {
      await stopWorkers([worker], 5000);
      await sb.cleanup();
    }
  },
);

pgTest("orch worker rejects a bad --concurrency or --name with exit 2", async (scope) => {
  const sb = await clusterSandbox(scope);
  try {
    for (const bad of ["0", "-1", "2.5", "x", "", "1025"]) {
      const r = await cli(sb, ["worker", `--concurrency=${bad}`]);
      assert.equal(r.code, 2, `--concurrency "${bad}": ${r.stderr}`);
      assert.match(r.stderr, /Invalid --concurrency ".*": expected a whole number from 1 to 1024/);
    }
    for (const bad of ["", " ", "a\nb"]) {
      const r = await cli(sb, ["worker", `--name=${bad}`]);
      assert.equal(r.code, 2, `--name ${JSON.stringify(bad)}: ${r.stderr}`);
      assert.match(r.stderr, /Invalid --name/);
    }
    const help = await cli(sb, ["worker", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--concurrency N {4}Attempts run at once, the pool size/);
    assert.match(help.stdout, /--name NAME/);
  } finally {
    await sb.cleanup();
  }
});
