import assert from "node:assert/strict";
import { ON_PG } from "../helpers/backend.ts";
import { orch, readState, sandbox } from "../helpers/cli.ts";
import { freshMinute, schedules } from "./_sched.ts";

const PLUGIN = "export default { permissions: { env: ['HOME'] }, run: () => ({ ok: 1 }) };\n";

// The inspection cache, like the next-due index, serves JSONL `scheduler --once`.
Deno.test({
  name:
    "scheduler --once remembers inspections beside the state store, and inspects edited plugins",
  ignore: ON_PG,
  fn: async (t) => {
    const sb = await sandbox();
    sb.env.WORKFLOWS_DIR = `${sb.dir}/wf`;
    const once = () =>
      orch(["scheduler", "--dir", "sched", "--once"], { cwd: sb.dir, env: sb.env });
    const cache = `${sb.state}.inspected.json`;
    const entries = async () =>
      Object.keys(JSON.parse(await Deno.readTextFile(cache)).entries).length;
    const finished = async () =>
      (await readState(sb)).filter((e) => e.event === "run_finished").map((e) => e.status);
    const forget = async (...paths: string[]) => {
      for (const p of paths) await Deno.remove(p, { recursive: true }).catch(() => {});
    };
    try {
      await sb.write("wf/probe.ts", PLUGIN);
      await sb.write(
        "dags/p.yaml",
        JSON.stringify({ name: "p", tenant_id: "t", tasks: [{ id: "a", workflow_ref: "probe" }] }),
      );
      await schedules(sb, [{ id: "now", cron: "* * * * *", dag: "dags/p.yaml" }]);
      await freshMinute(40);

      await t.step("a full tick's validation records the inspection", async () => {
        const r = await once();
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(await finished(), ["success"]);
        assert.equal(await entries(), 1);
      });

      await t.step("a due minute from the index runs with the recorded inspection", async () => {
        await forget(sb.state, `${sb.state}.watermarks.json`, `${sb.state}.validated.json`);
        const r = await once();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /enqueued now .* as run /);
        assert.deepEqual(await finished(), ["success"]);
        assert.equal(await entries(), 1);
      });

      await t.step("an edited plugin is inspected again (and its error reported)", async () => {
        await sb.write("wf/probe.ts", PLUGIN.replace("env: ['HOME']", "env: [''], ffi: []"));
        await forget(sb.state, `${sb.state}.watermarks.json`);
        const r = await once();
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /permissions: unknown key "ffi"/);
        assert.match(r.stderr, /permissions\.env\.0: expected a non-empty string/);
        assert.deepEqual(await finished(), []);
      });
    } finally {
      await sb.cleanup();
    }
  },
});
