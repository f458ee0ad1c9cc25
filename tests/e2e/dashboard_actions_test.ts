import assert from "node:assert/strict";
import { orch, sandbox } from "../helpers/cli.ts";
import { startDashboard } from "../helpers/dashboard.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";

async function waitForRun(sb: { dir: string; env: Record<string, string> }, runId: string) {
  for (let i = 0; i < 100; i++) {
    const r = await orch(["runs", "--json"], { cwd: sb.dir, env: sb.env });
    const run = JSON.parse(r.stdout).find((x: { run_id: string }) => x.run_id === runId);
    if (run && run.status !== "running" && run.status !== "queued") return run;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`run ${runId} did not finish`);
}

Deno.test({
  name:
    "dashboard actions: token required; trigger and retry run through the engine and are recorded",
}, async () => {
  const sb = await sandbox();
  const env = { ...sb.env, WORKFLOWS_DIR: FIXTURE_WORKFLOWS, ORCH_DASHBOARD_TOKEN: "t0ken" };
  await sb.write(
    "ok.yaml",
    dagYaml("ok_dag", [{ id: "a", workflow_ref: "echo", params: { x: 1 } }]),
  );
  await sb.write(
    "flaky.yaml",
    dagYaml("flaky_dag", [
      { id: "first", workflow_ref: "echo" },
      {
        id: "second",
        workflow_ref: "fail_first_time",
        params: { marker: `${sb.dir}/marker` },
        depends_on: ["first"],
      },
    ]),
  );
  const failed = await orch(["run", "--dag", "flaky.yaml", "--json"], { cwd: sb.dir, env });
  assert.equal(failed.code, 1, failed.stderr);
  const failedId = JSON.parse(failed.stdout).run_id;
  const dash = await startDashboard(sb.dir, env);
  try {
    const post = (path: string, body: unknown, token?: string) =>
      fetch(new URL(path, dash.url), {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
    const denied = await post("/api/runs", { dag: "ok.yaml" }, "wrong");
    assert.equal(denied.status, 401);
    await denied.body?.cancel();
    const outside = await post("/api/runs", { dag: "/etc/passwd" }, "t0ken");
    assert.equal(outside.status, 400);
    await outside.body?.cancel();

    const trig = await post("/api/runs", { dag: "ok.yaml", params: { who: "dash" } }, "t0ken");
    assert.equal(trig.status, 202);
    const { run_id } = await trig.json();
    const run = await waitForRun(sb, run_id);
    assert.equal(run.status, "success");

    const retry = await post(`/api/runs/${failedId}/retry`, {}, "t0ken");
    assert.equal(retry.status, 202);
    const r = await retry.json();
    assert.equal(r.retry_of, failedId);
    assert.equal((await waitForRun(sb, r.run_id)).status, "success");
  } finally {
    dash.child.kill("SIGTERM");
    assert.equal((await dash.child.status).code, 0);
    await dash.drain;
    await sb.cleanup();
  }
});
