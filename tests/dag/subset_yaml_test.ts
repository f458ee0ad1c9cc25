import assert from "node:assert/strict";
import { parse } from "yaml";
import { parseSubset } from "../../src/dag/_subset_yaml.ts";
import { parseDag } from "../../src/dag/load.ts";
import { makeSpec, toYaml } from "../../bench/gen_dags.ts";

const WEEKLY = new URL("../../configs/dags/weekly_ops_chain.min.yaml", import.meta.url);

/** Texts inside the subset: parseSubset must return exactly what npm:yaml returns. */
const INSIDE: [string, string][] = [
  ["minimal", "name: d\ntasks:\n  - id: a\n    workflow_ref: w\n"],
  ["sequence at the key's indent", "name: d\ntasks:\n- id: a\n  workflow_ref: w\n"],
  [
    "comments and blank lines",
    "# head\nname: d # trailing\n\ntasks: # list\n  # inside\n  - id: a\n    workflow_ref: w\n",
  ],
  [
    "scalars",
    "a: 1\nb: -12\nc: 1.50\nd: true\ne: False\nf: null\ng: ~\nh: plain text\ni: a#b\n" +
    "j: 'it''s'\nk: \"dq 'x' # y\"\nl:\nm: foo:bar\nn: a,b]\no: on\np: 0\n",
  ],
  ["flow collections", "a: [x, y z, 'q', \"r\", 1, 2.5, true, null, [], {}]\nb: {k: v, n: 1}\n"],
  ["nested flow", "a: [[1, 2], {x: [a]}]\n"],
  ["block list of scalars", "a:\n  - x\n  - 1\n  -\n  - [y]\nb: 2\n"],
  ["nested maps", "a:\n  b:\n    c: 1\n  d: 2\ne: 3\n"],
  ["wide dash", "a:\n  -   id: x\n      w: 1\n"],
  ["depends_on block list", "t:\n  - id: a\n    depends_on:\n    - b\n    - c\n"],
  ["no final newline", "name: d"],
];

/** Texts outside the subset (or invalid): parseSubset must give up. */
const OUTSIDE: [string, string][] = [
  ["empty", ""],
  ["only comments", "# x\n"],
  ["top-level list", "- a\n"],
  ["anchor and alias", "a: &x 1\nb: *x\n"],
  ["tag", "a: !!str 1\n"],
  ["block scalar", "a: |\n  x\n"],
  ["multi-line plain", "a: x\n  y\n"],
  ["escape", 'a: "x\\ny"\n'],
  ["duplicate key", "a: 1\na: 2\n"],
  ["document marker", "---\na: 1\n"],
  ["tab", "a:\t1\n"],
  ["CRLF", "a: 1\r\n"],
  ["octal", "a: 0o17\n"],
  ["exponent", "a: 1e3\n"],
  ["leading zero", "a: 007\n"],
  ["date-like", "a: 2025-10-01\n"],
  ["infinity", "a: .inf\n"],
  ["negative zero", "a: -0\n"],
  ["compact nested map", "a: b: c\n"],
  ["quoted key", '"a": 1\n'],
  ["__proto__", "__proto__: 1\n"],
  ["bad indent", "a:\n    b: 1\n  c: 2\n"],
  ["unclosed flow", "a: [x,\n  y]\n"],
  ["empty flow item", "a: [x, ]\n"],
  ["junk after flow", "a: [x] y\n"],
  ["colon in flow", "a: [x: y]\n"],
  ["deep nesting", "a: " + "[".repeat(20_000) + "]".repeat(20_000) + "\n"],
];

Deno.test("parseSubset() returns what npm:yaml returns for texts in the subset", async (t) => {
  const cases = [...INSIDE, ["weekly_ops_chain.min.yaml", await Deno.readTextFile(WEEKLY)]];
  for (const shape of ["chain", "fan", "layered"] as const) {
    cases.push([`bench ${shape}_1000`, toYaml(makeSpec(shape, 1000))]);
  }
  for (const [name, text] of cases) {
    await t.step(name, () => {
      const got = parseSubset(text);
      assert.notEqual(got, undefined, "fell back to npm:yaml");
      assert.deepEqual(got, parse(text));
    });
  }
});

Deno.test("parseSubset() gives up on everything outside the subset", async (t) => {
  for (const [name, text] of OUTSIDE) {
    await t.step(name, () => assert.equal(parseSubset(text), undefined));
  }
});

Deno.test("parseDag() gives the same DAG through the subset as through npm:yaml", () => {
  const text = toYaml(makeSpec("layered", 1000));
  // A comment-free text with an escape leaves the subset, so it takes npm:yaml's path.
  const viaYaml = text.replace("name: layered_1000", 'name: "layered_1000\\u0020"');
  const fast = parseDag(text, "d.yaml");
  const slow = parseDag(viaYaml, "d.yaml");
  assert.equal(parseSubset(viaYaml), undefined);
  assert.deepEqual({ ...slow, name: fast.name }, fast);
  assert.equal(slow.name, "layered_1000 ");
});

Deno.test("parseSubset() leaves deep flow nesting to the guarded parser", () => {
  const deep = "name: d\ntasks:\n  - id: a\n    workflow_ref: w\n    params:\n      x: " +
    "[".repeat(40) + "]".repeat(40) + "\n";
  assert.equal(parseSubset(deep), undefined);
  const shallow = deep.replace("[".repeat(40) + "]".repeat(40), "[[1], [2]]");
  assert.deepEqual(
    (parseSubset(shallow) as { tasks: { params: unknown }[] }).tasks[0].params,
    { x: [[1], [2]] },
  );
});
