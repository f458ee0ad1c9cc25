import assert from "node:assert/strict";
import { orch, sandbox } from "../helpers/cli.ts";
import { dagYaml } from "../helpers/dag.ts";

Deno.test("orch validate reports a plugin's invalid permissions by path, without zod", async () => {
  const sb = await sandbox();
  try {
    await sb.write(
      "wf/bad_perms.ts",
      'export default { permissions: { read: [""], ffi: ["x"] }, run: () => ({}) };\n',
    );
    await sb.write("wf/ok_perms.ts", "export default { permissions: null, run: () => ({}) };\n");
    const bad = await sb.write("bad.yaml", dagYaml("b", [{ id: "a", workflow_ref: "bad_perms" }]));
    const ok = await sb.write("ok.yaml", dagYaml("o", [{ id: "a", workflow_ref: "ok_perms" }]));
    const env = { ...sb.env, WORKFLOWS_DIR: `${sb.dir}/wf` };
    const r = await orch(["validate", ok, bad], { cwd: sb.dir, env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stdout + r.stderr, /OK .*ok\.yaml/);
    assert.match(r.stderr, /permissions: unknown key "ffi"/);
    assert.match(r.stderr, /permissions\.read\.0: expected a non-empty string/);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("orch run checks params of a (z) => schema plugin with zod loaded on demand", async () => {
  const sb = await sandbox();
  try {
    await sb.write(
      "wf/typed_n.ts",
      "export default { params: (z) => z.object({ n: z.number() }), run: (p) => ({ n: p.n }) };\n",
    );
    const env = { ...sb.env, WORKFLOWS_DIR: `${sb.dir}/wf` };
    const good = await sb.write(
      "good.yaml",
      dagYaml("g", [{ id: "a", workflow_ref: "typed_n", params: { n: 2 } }]),
    );
    const bad = await sb.write(
      "bad.yaml",
      dagYaml("b", [{ id: "a", workflow_ref: "typed_n", params: { n: "two" } }]),
    );
    const r = await orch(["run", "--dag", good], { cwd: sb.dir, env });
    assert.equal(r.code, 0, r.stderr);
    const b = await orch(["run", "--dag", bad], { cwd: sb.dir, env });
    assert.equal(b.code, 2, b.stderr);
    assert.match(b.stderr, /params\.n: /);
  } finally {
    await sb.cleanup();
  }
});
