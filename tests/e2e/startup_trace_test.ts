import assert from "node:assert/strict";
import { orch } from "../helpers/cli.ts";
import { notNowCron, schedSandbox, schedules } from "./_sched.ts";

Deno.test("ORCH_TRACE_STARTUP=1 writes start-up timestamps to stderr, and nothing when unset", async () => {
  const sb = await schedSandbox();
  try {
    await sb.write(
      "dags/ok.yaml",
      JSON.stringify({ name: "ok", tenant_id: "t", tasks: [{ id: "a", workflow_ref: "echo" }] }),
    );
    await schedules(sb, [{ id: "later", cron: notNowCron(), dag: "dags/ok.yaml" }]);
    const once = (env: Record<string, string>) =>
      orch(["scheduler", "--dir", "sched", "--once"], { cwd: sb.dir, env: { ...sb.env, ...env } });
    const plain = await once({});
    assert.equal(plain.code, 0, plain.stderr);
    assert.doesNotMatch(plain.stderr, /orch trace/);
    const traced = await once({ ORCH_TRACE_STARTUP: "1" });
    assert.equal(traced.code, 0, traced.stderr);
    const steps = [...traced.stderr.matchAll(/^orch trace (\d+\.\d) (.+)$/gm)];
    assert.equal(steps[0]?.[2], "cli started", traced.stderr);
    assert.match(steps[1]?.[2] ?? "", /^quick path (gave up|answered)$/);
    const times = steps.map((m) => Number(m[1]));
    assert.deepEqual(times, [...times].sort((a, b) => a - b), "in order");
  } finally {
    await sb.cleanup();
  }
});
