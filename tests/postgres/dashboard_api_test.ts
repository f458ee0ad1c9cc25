/**
 * The dashboard over the PostgreSQL store: runs made by the real engine through the CLI
 * (`orch run`, `orch scheduler --once` with ORCH_STORE), read in-process through
 * `PostgresRunSource`, and the real `orch dashboard` process triggering and retrying runs
 * into the database.
 */
import assert from "node:assert/strict";
import { createDashboard } from "../../src/dashboard/mod.ts";
import { PostgresRunSource } from "../../src/store/postgres/dashboard_source.ts";
import { orch, sandbox } from "../helpers/cli.ts";
import { startDashboard } from "../helpers/dashboard.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";
import { freshMinute, schedules } from "../e2e/_sched.ts";
import { readUntil } from "../dashboard/_helpers.ts";
import { pgTest } from "./_pg.ts";

async function setup(url: string) {
  const sb = await sandbox();
  const env = { ...sb.env, ORCH_STORE: url, WORKFLOWS_DIR: FIXTURE_WORKFLOWS };
  await sb.write(
    "ok.yaml",
    dagYaml("ok_dag", [
      { id: "talk", workflow_ref: "logger" },
      { id: "after", workflow_ref: "echo", params: { x: 1 }, depends_on: ["talk"] },
    ]),
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
  await sb.write(
    "slow.yaml",
    dagYaml("slow_dag", [
      { id: "wait", workflow_ref: "sleep", params: { ms: 1500 } },
      { id: "after", workflow_ref: "echo", depends_on: ["wait"] },
    ]),
  );
  const run = async (dag: string, code: number) => {
    const r = await orch(["run", "--dag", dag, "--json"], { cwd: sb.dir, env });
    assert.equal(r.code, code, r.stderr);
    return JSON.parse(r.stdout).run_id as string;
  };
  return { sb, env, run };
}

async function getJson(app: { fetch(r: Request): Promise<Response> }, path: string) {
  const res = await app.fetch(new Request(`http://x${path}`));
  assert.equal(res.status, 200, path);
  return await res.json();
}

pgTest(
  "dashboard on PostgreSQL: list, detail, schedules, metrics and live updates of CLI runs",
  async (scope, t) => {
    const { sb, env, run } = await setup(scope.url);
    const okId = await run("ok.yaml", 0);
    const failedId = await run("flaky.yaml", 1);
    await freshMinute();
    await schedules({ ...sb, env }, [{ id: "every", cron: "* * * * *", dag: "ok.yaml" }]);
    const tick = await orch(["scheduler", "--dir", "sched", "--once"], { cwd: sb.dir, env });
    assert.equal(tick.code, 0, tick.stderr);
    const [{ run_id: scheduledId }] = await scope.sql`
      select run_id from runs where schedule_id = 'every'`;

    const app = createDashboard({
      source: new PostgresRunSource(scope.sql),
      pollIntervalMs: 50,
      schedulesProvider: () =>
        Promise.resolve([{
          id: "every",
          cron: "* * * * *",
          timezone: "UTC",
          enabled: true,
          dag: "ok.yaml",
          nextFireTimes: [],
        }]),
    });
    try {
      await t.step("GET /api/runs lists every run from the tables, newest first", async () => {
        const list = await getJson(app, "/api/runs");
        assert.equal(list.total, 3);
        const byId = new Map(list.runs.map((r: { run_id: string }) => [r.run_id, r]));
        assert.deepEqual(
          [okId, failedId, scheduledId].map((id) => (byId.get(id) as { status: string }).status),
          ["success", "failed", "success"],
        );
        assert.equal(list.runs[0].run_id, scheduledId);
        const failed = await getJson(app, "/api/runs?status=failed");
        assert.deepEqual(failed.runs.map((r: { run_id: string }) => r.run_id), [failedId]);
        const facets = await getJson(app, "/api/facets");
        assert.deepEqual(facets.dags, ["flaky_dag", "ok_dag"]);
        assert.deepEqual(facets.schedules, ["every"]);
      });

      await t.step("GET /api/runs/:id has the graph, tasks, outputs and logs", async () => {
        const detail = await getJson(app, `/api/runs/${okId}`);
        assert.equal(detail.run.status, "success");
        assert.equal(detail.run.tasks.success, 2);
        assert.deepEqual(
          detail.graph.nodes.map((n: { id: string; status: string }) => [n.id, n.status]),
          [["talk", "success"], ["after", "success"]],
        );
        assert.equal(detail.graph.edges_known, true);
        assert.deepEqual(detail.graph.edges.map((e: { from: string }) => e.from), ["talk"]);
        const talk = detail.tasks.find((x: { task_id: string }) => x.task_id === "talk");
        assert.deepEqual(talk.logs.map((l: { message: string }) => l.message), [
          "first line",
          "second line",
        ]);
        const after = detail.tasks.find((x: { task_id: string }) => x.task_id === "after");
        assert.equal(after.output.x, 1);
        assert.ok(detail.events.some((e: { event: string }) => e.event === "dag_done"));
        const failed = await getJson(app, `/api/runs/${failedId}`);
        assert.equal(
          failed.tasks.find((x: { task_id: string }) => x.task_id === "second").status,
          "failed",
        );
        const missing = await app.fetch(new Request("http://x/api/runs/nope"));
        assert.equal(missing.status, 404);
        await missing.body?.cancel();
      });

      await t.step("GET /api/schedules fills the last run from the database", async () => {
        const body = await getJson(app, "/api/schedules");
        assert.equal(body.schedules[0].last_run.run_id, scheduledId);
        assert.equal(body.schedules[0].last_run.status, "success");
      });

      await t.step("GET /metrics counts runs and attempts and knows the last tick", async () => {
        const res = await app.fetch(new Request("http://x/metrics"));
        const text = await res.text();
        assert.match(text, /^orch_runs\{status="success"\} 2$/m);
        assert.match(text, /^orch_runs\{status="failed"\} 1$/m);
        assert.match(text, /^orch_task_attempts_total\{status="failed"\} 1$/m);
        const tick = /^orch_scheduler_last_tick_timestamp_seconds (\S+)$/m.exec(text);
        assert.ok(tick && Math.abs(Number(tick[1]) * 1000 - Date.now()) < 120_000, text);
        assert.match(text, /^orch_dashboard_log_lines\{file="state"\} [1-9]/m);
      });

      await t.step("a run started by another process arrives through SSE", async () => {
        const res = await app.fetch(new Request("http://x/api/events"));
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        try {
          await readUntil(reader, /: connected\n\n/);
          const running = orch(["run", "--dag", "slow.yaml", "--json"], { cwd: sb.dir, env });
          // One read until the run ended: the pushes before it must show it running.
          const text = await readUntil(
            reader,
            /event: runs\ndata: [^\n]*"dag_name":"slow_dag"[^\n]*"status":"success"/,
            20_000,
          );
          const pushes = text.split("\n").filter((l) => l.startsWith("data: "))
            .map((l) => JSON.parse(l.slice(6)));
          const slow = pushes.flatMap((p) => p.runs).filter((r) => r.dag_name === "slow_dag");
          assert.equal(slow[0].status, "running");
          assert.equal(slow.at(-1).status, "success");
          const notes = pushes.flatMap((p) => p.events).filter((e) => e.run_id === slow[0].run_id)
            .map((e) => e.event);
          for (const event of ["dag_start", "task_start", "task_ok", "dag_done"]) {
            assert.ok(notes.includes(event), `${event} in ${notes}`);
          }
          assert.equal((await running).code, 0);
        } finally {
          await reader.cancel();
        }
      });
    } finally {
      await app.close();
      await sb.cleanup();
    }
  },
);

pgTest(
  "orch dashboard on PostgreSQL: trigger and retry with the token record runs in the database",
  async (scope) => {
    const { sb, run } = await setup(scope.url);
    const failedId = await run("flaky.yaml", 1);
    const env = {
      ...sb.env,
      ORCH_STORE: scope.url,
      WORKFLOWS_DIR: FIXTURE_WORKFLOWS,
      ORCH_DASHBOARD_TOKEN: "t0ken",
    };
    const dash = await startDashboard(sb.dir, env);
    const post = (path: string, body: unknown, token?: string) =>
      fetch(new URL(path, dash.url), {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
    async function finished(runId: string): Promise<string> {
      for (let i = 0; i < 200; i++) {
        const res = await fetch(new URL(`/api/runs/${runId}`, dash.url));
        const body = await res.json();
        if (res.status === 200 && body.run.status !== "running") return body.run.status;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`run ${runId} did not finish`);
    }
    try {
      const denied = await post("/api/runs", { dag: "ok.yaml" });
      assert.equal(denied.status, 401);
      await denied.body?.cancel();
      const trig = await post("/api/runs", { dag: "ok.yaml" }, "t0ken");
      assert.equal(trig.status, 202);
      const { run_id } = await trig.json();
      assert.equal(await finished(run_id), "success");
      const retry = await post(`/api/runs/${failedId}/retry`, {}, "t0ken");
      assert.equal(retry.status, 202);
      const r = await retry.json();
      assert.equal(await finished(r.run_id), "success");
      const rows = await scope.sql<{ run_id: string; status: string; retry_of: string | null }[]>`
        select run_id, status, retry_of from runs where run_id in (${run_id}, ${r.run_id})
        order by started`;
      assert.deepEqual(rows.map((x) => ({ ...x })), [
        { run_id, status: "success", retry_of: null },
        { run_id: r.run_id, status: "success", retry_of: failedId },
      ]);
      const [{ n }] = await scope.sql`select count(*)::int as n from events
        where run_id = ${r.run_id} and event = 'task_start'`;
      assert.equal(n, 1, "the retry reuses the succeeded task and runs the failed one");
    } finally {
      dash.child.kill("SIGTERM");
      assert.equal((await dash.child.status).code, 0);
      await dash.drain;
      await sb.cleanup();
    }
  },
);
