import assert from "node:assert/strict";
import type { Dag } from "../../src/dag/types.ts";
import { buildPlan } from "../../src/plan/mod.ts";
import { type ClusterDb, submitRun } from "../../src/store/postgres/cluster/mod.ts";
import { claimNext } from "../../src/store/postgres/cluster/claim.ts";
import { completeAndClaim, endOf } from "../../src/store/postgres/cluster/complete.ts";
import type { WorkflowSource } from "../../src/workflows/registry.ts";
import { pgTest } from "./_pg.ts";

const task = (id: string, workflowRef: string, dependsOn: string[]) => ({
  id,
  workflowRef,
  params: {},
  retries: 0,
  retryDelayS: 0,
  dependsOn,
});

// a and c use one workflow, b another: the run stores two sources.
const DAG: Dag = {
  name: "mixed",
  dagId: "mixed",
  tenantId: "t1",
  tasks: [task("a", "one", []), task("b", "two", ["a"]), task("c", "one", ["a"])],
};
const ONE = { kind: "builtin", name: "one" } as unknown as WorkflowSource;
const TWO = { kind: "builtin", name: "two" } as unknown as WorkflowSource;

async function submit(db: ClusterDb): Promise<string> {
  return await submitRun(db, { dag: DAG, plan: buildPlan(DAG), sources: [ONE, TWO, ONE] }, {
    runId: "r1",
    host: "h",
    pid: 1,
  });
}

pgTest(
  "a cluster run stores each workflow source once; claims give every attempt its own",
  async ({ sql, schema }) => {
    const db: ClusterDb = { sql, schema };
    const runId = await submit(db);
    const [run] = await sql<{ sources: unknown[] }[]>`
      select sources from runs where run_id = ${runId}`;
    assert.deepEqual(run.sources, [ONE, TWO]);
    const specs = await sql<{ spec: Record<string, unknown> }[]>`
      select spec from run_tasks where run_id = ${runId} order by idx`;
    assert.deepEqual(specs.map((s) => [s.spec.source_ix, s.spec.source]), [
      [0, undefined],
      [1, undefined],
      [0, undefined],
    ]);

    const opts = { worker: "w1", lostMs: 10_000 };
    const [a] = (await claimNext(sql, { ...opts, limit: 5 })).claimed;
    assert.deepEqual(a.job.source, ONE);
    const at = Date.now();
    const end = endOf(a, {
      ok: true,
      output: { x: 1 },
      outputJson: `{"x":1}`,
      startedAt: at,
      endedAt: at,
    });
    const { claimed } = await completeAndClaim(db, [end], { ...opts, claim: 5 });
    assert.deepEqual(
      claimed.map((c) => [c.job.taskId, c.job.source]).sort(),
      [["b", TWO], ["c", ONE]],
    );
  },
);

pgTest(
  "a task spec written before migration 4 (its own source) is still claimed",
  async ({ sql, schema }) => {
    const db: ClusterDb = { sql, schema };
    const runId = await submit(db);
    await sql`
    update run_tasks t set spec = (t.spec - 'source_ix') || jsonb_build_object('source',
      r.sources -> (t.spec->>'source_ix')::int)
    from runs r where r.run_id = t.run_id and t.run_id = ${runId}`;
    await sql`update runs set sources = null where run_id = ${runId}`;
    const [a] = (await claimNext(sql, { worker: "w1", lostMs: 10_000, limit: 5 })).claimed;
    assert.equal(a.job.taskId, "a");
    assert.deepEqual(a.job.source, ONE);
  },
);
