import assert from "node:assert/strict";
import { mergePayload } from "../../mod.ts";

Deno.test("mergePayload() namespaces upstream keys as <upstream>__<key>", () => {
  const params = mergePayload({ start_date: "2025-10-01" }, [
    ["sweep", { summary: "Prioritized 15 items" }],
  ]);
  assert.deepEqual(params, { start_date: "2025-10-01", sweep__summary: "Prioritized 15 items" });
});

Deno.test("mergePayload() never overwrites the task's own params", () => {
  const params = mergePayload(
    { sweep__summary: "mine", run__day: "own" },
    [["sweep", { summary: "theirs", n: 1 }]],
    { day: "mon", week: 3 },
  );
  assert.deepEqual(params, { sweep__summary: "mine", run__day: "own", sweep__n: 1, run__week: 3 });
});

Deno.test("mergePayload() keeps each upstream apart", () => {
  const params = mergePayload({}, [["a", { x: 1 }], ["b", { x: 2 }]]);
  assert.deepEqual(params, { a__x: 1, b__x: 2 });
});

Deno.test("mergePayload() returns a new ordinary object: own params untouched, key order kept, no extra keys", async (t) => {
  for (const dictionary of [false, true]) {
    await t.step(`dictionary: ${dictionary}`, () => {
      const own = { b: 1, a: 2 };
      const params = mergePayload(own, [["up", { z: 3, y: 4 }]], { r: 5 }, { dictionary });
      assert.deepEqual(own, { b: 1, a: 2 });
      assert.notEqual(params, own);
      assert.deepEqual(Object.keys(params), ["b", "a", "up__z", "up__y", "run__r"]);
      assert.deepEqual(Object.getOwnPropertySymbols(params), []);
      assert.equal(Object.getPrototypeOf(params), Object.prototype);
      assert.equal(JSON.stringify(params), '{"b":1,"a":2,"up__z":3,"up__y":4,"run__r":5}');
    });
  }
});
