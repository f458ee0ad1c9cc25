import assert from "node:assert/strict";
import { orch, sandbox } from "../helpers/cli.ts";
import { dagYaml } from "../helpers/dag.ts";

Deno.test("scheduler --once skips re-validating unchanged DAGs but never hides a change", async () => {
  const sb = await sandbox();
  try {
    const plugin = await sb.write(
      "workflows/counter.ts",
      "export default { params: (z) => z.object({ n: z.number() }), run: (p) => ({ n: p.n }) };\n",
    );
    const dag = await sb.write(
      "d.yaml",
      dagYaml("cached", [{ id: "a", workflow_ref: "counter", params: { n: 1 } }]),
    );
    // A cron that cannot be due now: nothing runs, only validation happens.
    await sb.write(
      "schedules/s.yaml",
      `- {id: s, cron: "0 0 29 2 *", dag: d.yaml, tenant: t, enabled: true}\n`,
    );
    const once = () =>
      orch(["scheduler", "--dir", "schedules", "--once"], { cwd: sb.dir, env: sb.env });
    const later = (s: number) => new Date(Date.now() + s * 1000);

    assert.equal((await once()).code, 0);
    const cache = JSON.parse(await Deno.readTextFile(`${sb.state}.validated.json`));
    assert.equal(cache.entries[dag].dagName, "cached");
    assert.equal((await once()).code, 0);

    // A plugin edit that makes the DAG's params invalid is seen (its URL carries its mtime).
    await Deno.writeTextFile(
      plugin,
      "export default { params: (z) => z.object({ n: z.string() }), run: (p) => ({ n: p.n }) };\n",
    );
    await Deno.utime(plugin, later(5), later(5));
    const bad = await once();
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /params\.n/);

    // So is a DAG edit.
    await Deno.writeTextFile(plugin, "export default { run: () => ({}) };\n");
    await Deno.utime(plugin, later(10), later(10));
    assert.equal((await once()).code, 0);
    await Deno.writeTextFile(dag, dagYaml("cached", [{ id: "a", workflow_ref: "nope" }]));
    await Deno.utime(dag, later(15), later(15));
    const unknown = await once();
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Unknown workflow: nope/);
  } finally {
    await sb.cleanup();
  }
});
