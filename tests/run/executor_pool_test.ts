import assert from "node:assert/strict";
import { ManualClock } from "../../src/lib/clock.ts";
import { InlinePool } from "../../src/pool/mod.ts";
import { parseDag } from "../../src/dag/load.ts";
import { buildPlan } from "../../src/plan/build_plan.ts";
import { executeDag } from "../../src/run/executor.ts";
import type { WorkflowSource } from "../../src/workflows/registry.ts";

const DEPTH_PLUGIN = `export default {
  run(params, ctx) {
    let d = 0;
    for (const [k, v] of Object.entries(params)) if (k.endsWith("__depth") && v > d) d = v;
    return { id: ctx.taskId, depth: d + 1, keys: Object.keys(params).sort() };
  },
};
`;

const YAML = `name: diamond
tenant_id: acme
tasks:
  - { id: a, workflow_ref: depth, params: { k: 1 } }
  - { id: b, workflow_ref: depth, depends_on: [a] }
  - { id: c, workflow_ref: depth, depends_on: [a] }
  - { id: d, workflow_ref: depth, depends_on: [b, c], params: { b__depth: 99 } }
`;

async function setup() {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/depth.js`;
  await Deno.writeTextFile(path, DEPTH_PLUGIN);
  const source: WorkflowSource = { kind: "file", name: "depth", path, url: `file://${path}` };
  const dag = parseDag(YAML, "diamond.yaml");
  const plan = buildPlan(dag);
  return { dir, dag, plan, sources: dag.tasks.map(() => source) };
}

Deno.test("executeDag() passes upstream outputs and writes whole events", async (t) => {
  const { dir, dag, plan, sources } = await setup();
  const pool = new InlinePool({ size: 2 });
  const events: Record<string, unknown>[] = [];
  try {
    const result = await executeDag({
      dag,
      plan,
      sources,
      pool,
      events: { append: (...e: object[]) => events.push(...e as Record<string, unknown>[]) },
      clock: new ManualClock(new Date("2026-01-01T00:00:00Z")),
      sleep: () => Promise.resolve(),
      runId: "run-1",
      runParams: { day: "mon" },
    });
    const out = Object.fromEntries(result.tasks.map((r) => [r.id, r.output]));

    await t.step("every task receives its upstream outputs as <upstream>__<key>", () => {
      assert.equal(result.status, "success");
      assert.deepEqual(out.b?.keys, ["a__depth", "a__id", "a__keys", "run__day"]);
      assert.equal(out.c?.depth, 2);
      // d's own b__depth (99) wins over b's output.
      assert.equal(out.d?.depth, 100);
      assert.ok((out.d?.keys as string[]).includes("c__depth"));
    });

    await t.step("events carry the run fields and are valid JSON", () => {
      for (const e of events) {
        assert.equal(e.run_id, "run-1");
        assert.equal(e.dag_name, "diamond");
        assert.equal(e.tenant_id, "acme");
        assert.equal(e.v, 1);
        assert.match(String(e.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.deepEqual(JSON.parse(JSON.stringify(e)), e);
      }
      const names = events.map((e) => `${e.event}:${e.task_id ?? ""}`);
      assert.equal(names[0], "dag_start:");
      assert.equal(names.at(-1), "dag_done:");
      for (const id of ["a", "b", "c", "d"]) {
        const s = names.indexOf(`task_start:${id}`);
        const ok = names.indexOf(`task_ok:${id}`);
        assert.ok(s >= 0 && ok > s, `task_start before task_ok for ${id}`);
      }
      const start = events.find((e) => e.event === "task_start" && e.task_id === "a")!;
      assert.deepEqual(start.params, { k: 1 });
      assert.equal(start.workflow_ref, "depth");
      assert.equal(start.attempt, 1);
      const ok = events.find((e) => e.event === "task_ok" && e.task_id === "a")!;
      assert.deepEqual(ok.output, out.a);
    });
  } finally {
    await pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("executeDag() hands reused outputs to dependants", async () => {
  const { dir, dag, plan, sources } = await setup();
  const pool = new InlinePool({ size: 1 });
  try {
    const result = await executeDag({
      dag,
      plan,
      sources,
      pool,
      events: { append: () => {} },
      clock: new ManualClock(new Date("2026-01-01T00:00:00Z")),
      sleep: () => Promise.resolve(),
      runId: "run-2",
      retryOf: "run-1",
      reuse: new Map([["a", { depth: 10 }], ["b", { depth: 20 }]]),
    });
    const out = Object.fromEntries(result.tasks.map((r) => [r.id, r]));
    assert.equal(out.a.attempts, 0);
    assert.equal(out.c.output?.depth, 11);
    assert.equal(out.d.output?.depth, 100);
  } finally {
    await pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});
