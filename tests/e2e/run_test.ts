import assert from "node:assert/strict";
import { orch, readEvents, REPO, sandbox } from "../helpers/cli.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";

const SEED_DAG = `${REPO}/configs/dags/weekly_ops_chain.min.yaml`;

Deno.test("orch run --dry-run prints the seed's plan and writes nothing", async () => {
  const sb = await sandbox();
  try {
    const r = await orch(["run", "--dag", SEED_DAG, "--dry-run"], { cwd: sb.dir, env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `DRY RUN: DAG 'weekly_ops_chain'
Tenant: local-dev
Tasks: 3

Execution Plan:
  1. sweep (workflow: inbox_drive_sweep, depends_on: none)
  2. report (workflow: weekly_report_pack, depends_on: sweep)
  3. brief (workflow: meeting_transcript_brief, depends_on: report)
`,
    );
    assert.equal((await readEvents(sb)).length, 0);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("orch run executes the seed example, logs events and passes payloads", async () => {
  const sb = await sandbox();
  try {
    const r = await orch(["run", "--dag", SEED_DAG], { cwd: sb.dir, env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^DAG EXECUTION COMPLETE\nDAG: weekly_ops_chain\nTasks Succeeded: 3\nTasks Failed: 0\nDuration: \d+\.\d\ds\n$/,
    );
    const events = await readEvents(sb);
    assert.deepEqual(events.map((e) => e.event), [
      "dag_start",
      "task_start",
      "task_log",
      "task_ok",
      "task_start",
      "task_ok",
      "task_start",
      "task_ok",
      "dag_done",
    ]);
    const runIds = new Set(events.map((e) => e.run_id));
    assert.equal(runIds.size, 1);
    const done = events.at(-1)!;
    assert.equal(done.tasks_succeeded, 3);
    assert.equal(done.status, "success");
    const report = events.find((e) => e.event === "task_ok" && e.task_id === "report")!;
    const md = (report.output as { report_markdown: string }).report_markdown;
    assert.match(md, /- sweep: Prioritized 1 items/);
    const brief = events.find((e) => e.event === "task_ok" && e.task_id === "brief")!;
    assert.match(String((brief.output as { brief: string }).brief), /Context: Report for 7 days/);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("orch run --json prints one result object in plan order", async () => {
  const sb = await sandbox();
  try {
    const dag = await sb.write(
      "d.yaml",
      dagYaml("j", [
        { id: "b", workflow_ref: "echo", params: { v: 1 }, depends_on: ["a"] },
        { id: "a", workflow_ref: "echo", params: { w: 2 } },
      ]),
    );
    const r = await orch(["run", "--dag", dag, "--json"], {
      cwd: sb.dir,
      env: { ...sb.env, WORKFLOWS_DIR: FIXTURE_WORKFLOWS },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out), [
      "run_id",
      "dag_name",
      "tenant_id",
      "status",
      "duration_s",
      "tasks",
    ]);
    assert.equal(out.status, "success");
    assert.deepEqual(out.tasks.map((t: { id: string }) => t.id), ["a", "b"]);
    assert.deepEqual(out.tasks[1], {
      id: "b",
      workflow_ref: "echo",
      status: "success",
      attempts: 1,
      output: { v: 1, a__w: 2 },
    });
  } finally {
    await sb.cleanup();
  }
});

Deno.test("orch run retries a plugin that fails its first attempts", async () => {
  const sb = await sandbox();
  try {
    const dag = await sb.write(
      "d.yaml",
      dagYaml("r", [{
        id: "f",
        workflow_ref: "flaky",
        params: { fail_times: 2 },
        retries: 2,
        retry_delay_s: 0.01,
      }]),
    );
    const env = { ...sb.env, WORKFLOWS_DIR: FIXTURE_WORKFLOWS };
    const r = await orch(["run", "--dag", dag, "--json"], { cwd: sb.dir, env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).tasks[0].attempts, 3);
    const events = await readEvents(sb);
    assert.deepEqual(
      events.filter((e) => e.event === "task_fail").map((e) => [e.attempt, e.error, e.will_retry]),
      [[1, "flaky failure 1", true], [2, "flaky failure 2", true]],
    );
    assert.equal(events.filter((e) => e.event === "task_retry").length, 2);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("orch run exhausts retries, skips dependants and exits 1", async () => {
  const sb = await sandbox();
  try {
    const dag = await sb.write(
      "d.yaml",
      dagYaml("x", [
        { id: "task1", workflow_ref: "fail", retries: 2, retry_delay_s: 0 },
        { id: "down", workflow_ref: "echo", depends_on: ["task1"] },
        { id: "side", workflow_ref: "echo" },
      ]),
    );
    const env = { ...sb.env, WORKFLOWS_DIR: FIXTURE_WORKFLOWS };
    const r = await orch(["run", "--dag", dag], { cwd: sb.dir, env });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /Tasks Succeeded: 1\nTasks Failed: 1\nTasks Skipped: 1\n/);
    assert.match(r.stderr, /RunnerError: Task 'task1' failed after 3 attempts: boom\n/);
    const events = await readEvents(sb);
    const skipped = events.find((e) => e.event === "task_skipped")!;
    assert.deepEqual([skipped.task_id, skipped.upstream], ["down", "task1"]);
    assert.equal(events.at(-1)!.status, "failed");
  } finally {
    await sb.cleanup();
  }
});

Deno.test("orch run loads a .js plugin and a plugin file added without code change", async () => {
  const sb = await sandbox();
  try {
    await Deno.copyFile(`${FIXTURE_WORKFLOWS}/js_plugin.js`, `${sb.workflows}/js_plugin.js`);
    await sb.write(
      "workflows/brand_new.ts",
      "export default { run: (p: { n: number }) => ({ squared: p.n * p.n }) };\n",
    );
    const dag = await sb.write(
      "d.yaml",
      dagYaml("p", [
        { id: "js", workflow_ref: "js_plugin", params: { value: "v" } },
        { id: "sq", workflow_ref: "brand_new", params: { n: 7 } },
      ]),
    );
    const r = await orch(["run", "--dag", dag, "--json"], { cwd: sb.dir, env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    const tasks = JSON.parse(r.stdout).tasks;
    assert.deepEqual(tasks[0].output, { js: true, got: "v" });
    assert.deepEqual(tasks[1].output, { squared: 49 });
  } finally {
    await sb.cleanup();
  }
});

Deno.test("orch run: a user plugin overrides the built-in of the same name", async () => {
  const sb = await sandbox();
  try {
    await sb.write(
      "workflows/inbox_drive_sweep.ts",
      "export default { run: () => ({ summary: 'mine' }) };\n",
    );
    const dag = await sb.write(
      "d.yaml",
      dagYaml("o", [{ id: "s", workflow_ref: "inbox_drive_sweep" }]),
    );
    const r = await orch(["run", "--dag", dag, "--json"], { cwd: sb.dir, env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).tasks[0].output, { summary: "mine" });
  } finally {
    await sb.cleanup();
  }
});
