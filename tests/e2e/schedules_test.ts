import assert from "node:assert/strict";
import { orch } from "../helpers/cli.ts";
import { freshMinute, schedSandbox, schedules } from "./_sched.ts";

Deno.test("orch schedules lists next fire times and last runs; --explain tells why", async () => {
  const sb = await schedSandbox();
  try {
    await sb.write(
      "dags/ok.yaml",
      JSON.stringify({
        name: "ok_dag",
        tenant_id: "t",
        tasks: [{ id: "a", workflow_ref: "echo" }],
      }),
    );
    await freshMinute();
    await schedules(sb, [
      { id: "every", cron: "* * * * *", dag: "dags/ok.yaml" },
      { id: "nightly", cron: "0 3 * * *", dag: "dags/ok.yaml", enabled: false },
    ]);
    const env = { cwd: sb.dir, env: sb.env };
    assert.equal((await orch(["scheduler", "--dir", "sched", "--once"], env)).code, 0);
    const json = await orch(["schedules", "--dir", "sched", "--json"], env);
    assert.equal(json.code, 0, json.stderr);
    const list = JSON.parse(json.stdout);
    assert.deepEqual(list.map((s: { id: string }) => s.id), ["every", "nightly"]);
    assert.equal(list[0].next.length, 5);
    assert.equal(list[0].last_run.status, "success");
    assert.equal(list[1].last_run, null);
    assert.match(list[1].next[0], /T03:00:00.000Z$/);
    const text = await orch(["schedules", "--dir", "sched"], env);
    assert.match(text.stdout, /nightly \(disabled\): "0 3 \* \* \*" UTC/);
    const why = await orch(["schedules", "--dir", "sched", "--explain", "every"], env);
    assert.equal(why.code, 0, why.stderr);
    assert.match(why.stdout, /fired: run \S+ success/);
    assert.match(why.stdout, /not fired: no scheduler tick handled it/);
    const none = await orch(["schedules", "--dir", "sched", "--explain", "nope"], env);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /UnknownScheduleError: Cannot explain schedule "nope"/);
  } finally {
    await sb.cleanup();
  }
});
