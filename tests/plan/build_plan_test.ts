import assert from "node:assert/strict";
import { buildPlan, CycleDetectedError, findCycle, parseDag } from "../../mod.ts";

function dag(edges: Record<string, string[]>) {
  const tasks = Object.entries(edges).map(([id, deps]) => ({
    id,
    workflow_ref: "w",
    depends_on: deps,
  }));
  return parseDag(JSON.stringify({ name: "d", tasks }));
}

Deno.test("buildPlan() orders topologically with file order breaking ties", async (t) => {
  const table: [string, Record<string, string[]>, string[]][] = [
    ["chain", { a: [], b: ["a"], c: ["b"] }, ["a", "b", "c"]],
    ["independent keep file order", { z: [], y: [], x: [] }, ["z", "y", "x"]],
    ["diamond", { d: ["b", "c"], c: ["a"], b: ["a"], a: [] }, ["a", "c", "b", "d"]],
    ["root declared last", { b: ["a"], c: [], a: [] }, ["c", "a", "b"]],
  ];
  for (const [name, edges, want] of table) {
    await t.step(name, () => {
      const p = buildPlan(dag(edges));
      assert.deepEqual(p.order.map((i) => p.ids[i]), want);
    });
  }
});

Deno.test("buildPlan() computes levels and dependants", () => {
  const p = buildPlan(dag({ a: [], b: ["a"], c: ["a"], d: ["b", "c"] }));
  assert.deepEqual(p.level, [0, 1, 1, 2]);
  assert.deepEqual(p.dependants[0], [1, 2]);
});

Deno.test("buildPlan() throws CycleDetectedError naming the cycle", () => {
  assert.throws(
    () => buildPlan(dag({ a: ["c"], b: ["a"], c: ["b"], d: [] })),
    (err: unknown) => {
      assert.ok(err instanceof CycleDetectedError);
      assert.equal(err.message, "Cycle detected in DAG 'd': a -> b -> c -> a");
      assert.deepEqual(err.cycle, ["a", "b", "c", "a"]);
      return true;
    },
  );
});

Deno.test("findCycle() returns undefined for a DAG and a path for a cycle", () => {
  assert.equal(findCycle([[], [0], [0, 1]]), undefined);
  assert.deepEqual(findCycle([[1], [0]]), [0, 1, 0]);
  const big = Array.from({ length: 50_000 }, (_, i) => (i ? [i - 1] : [49_999]));
  assert.equal(findCycle(big)?.length, 50_001);
});
