import assert from "node:assert/strict";
import { layoutGraph } from "../../src/dashboard/mod.ts";

const ok = () => "success" as const;

Deno.test("layoutGraph() puts each task in the column of its longest path", () => {
  const g = layoutGraph(
    ["a", "b", "c", "d"],
    [["a", "b"], ["b", "d"], ["a", "d"], ["c", "d"]],
    ok,
  );
  const level = Object.fromEntries(g.nodes.map((n) => [n.id, n.level]));
  assert.deepEqual(level, { a: 0, c: 0, b: 1, d: 2 });
  for (const e of g.edges) {
    const from = g.nodes.find((n) => n.id === e.from)!, to = g.nodes.find((n) => n.id === e.to)!;
    assert.ok(from.x + from.width < to.x, `${e.from} -> ${e.to} points right`);
    assert.match(e.path, /^M[\d.]+ [\d.]+ C/);
  }
  for (const n of g.nodes) {
    assert.ok(n.x + n.width <= g.width && n.y + n.height <= g.height, `${n.id} inside`);
  }
});

Deno.test("layoutGraph() adds nodes named only by edges and survives a cycle", () => {
  const g = layoutGraph(["a"], [["a", "b"], ["b", "a"]], () => "pending");
  assert.deepEqual(g.nodes.map((n) => n.id).sort(), ["a", "b"]);
  assert.equal(g.edges_known, true);
});

Deno.test("layoutGraph() without edges stacks tasks in one column", () => {
  const g = layoutGraph(["a", "b", "c"], [], ok);
  assert.equal(g.edges_known, false);
  assert.deepEqual(g.nodes.map((n) => n.level), [0, 0, 0]);
  assert.equal(new Set(g.nodes.map((n) => n.y)).size, 3);
});
