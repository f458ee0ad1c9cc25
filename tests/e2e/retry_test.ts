import assert from "node:assert/strict";
import { orch, readEvents } from "../helpers/cli.ts";
import { schedSandbox } from "./_sched.ts";

Deno.test("orch retry re-runs only the failed task, reusing the first task's output", async () => {
  const sb = await schedSandbox();
  try {
    await sb.write(
      "dags/two.yaml",
      JSON.stringify({
        name: "two",
        tenant_id: "t",
        tasks: [
          { id: "first", workflow_ref: "echo", params: { n: 7 } },
          {
            id: "second",
            workflow_ref: "fail_first_time",
            params: { marker: `${sb.dir}/marker` },
            depends_on: ["first"],
          },
        ],
      }),
    );
    const run = await orch(["run", "--dag", "dags/two.yaml", "--json"], {
      cwd: sb.dir,
      env: sb.env,
    });
    assert.equal(run.code, 1, run.stderr);
    const failed = JSON.parse(run.stdout);
    const list = await orch(["runs", "--json"], { cwd: sb.dir, env: sb.env });
    assert.deepEqual(JSON.parse(list.stdout).map((r: { status: string }) => r.status), ["failed"]);

    const retry = await orch(["retry", failed.run_id, "--json"], { cwd: sb.dir, env: sb.env });
    assert.equal(retry.code, 0, retry.stderr);
    const result = JSON.parse(retry.stdout);
    assert.equal(result.retry_of, failed.run_id);
    assert.deepEqual(
      result.tasks.map((t: { id: string; attempts: number }) => [t.id, t.attempts]),
      [["first", 0], ["second", 1]],
    );
    const starts = (await readEvents(sb)).filter((e) =>
      e.event === "task_start" && e.run_id === result.run_id
    );
    assert.deepEqual(starts.map((e) => e.task_id), ["second"], "only the failed task ran");
    const rows = JSON.parse((await orch(["runs", "--json"], { cwd: sb.dir, env: sb.env })).stdout);
    assert.equal(rows[0].run_id, result.run_id);
    assert.equal(rows[0].trigger, "retry");
    assert.equal(rows[0].retry_of, failed.run_id);
    assert.equal(rows[0].status, "success");

    const again = await orch(["retry", result.run_id], { cwd: sb.dir, env: sb.env });
    assert.equal(again.code, 2);
    assert.match(
      again.stderr,
      /RunNotRetryableError: Cannot retry run ".*": its status is "success"/,
    );
    const twice = await orch(["retry", failed.run_id], { cwd: sb.dir, env: sb.env });
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /its status is "failed", but its retry ".*" is success/);
    const unknown = await orch(["retry", "no-such-run"], { cwd: sb.dir, env: sb.env });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /RunNotFoundError: Cannot retry run "no-such-run"/);
  } finally {
    await sb.cleanup();
  }
});
