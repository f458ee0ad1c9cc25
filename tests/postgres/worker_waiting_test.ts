/**
 * A distributed run whose tasks are queued while no `orch worker` is alive says so: in
 * `orch runs` (a NOTE column, `--json` field `waiting`, a line on stderr) and once on the
 * foreground submitter's stderr. A live worker, even busy, clears it. Real processes,
 * real PostgreSQL.
 */
import assert from "node:assert/strict";
import type { Sandbox } from "../helpers/cli.ts";
import { spawnOrch } from "../e2e/_sched.ts";
import { collectStderr, pgTest } from "./_pg.ts";
import {
  cli,
  clusterSandbox,
  dagText,
  eventually,
  logs,
  startWorkers,
  stopWorkers,
  type WorkerProc,
} from "./_cluster.ts";

const MESSAGE =
  "waiting: no orch worker is connected to this database (start one with `orch worker`)";
type Row = Record<string, unknown>;

async function runs(sb: Sandbox): Promise<{ table: string; rows: Row[]; stderr: string }> {
  const table = await cli(sb, ["runs"]);
  assert.equal(table.code, 0, table.stderr);
  const json = await cli(sb, ["runs", "--json"]);
  assert.equal(json.code, 0, json.stderr);
  return { table: table.stdout, rows: JSON.parse(json.stdout), stderr: table.stderr };
}

pgTest("orch runs flags a distributed run queued while no worker is alive", async (scope, t) => {
  const sb = await clusterSandbox(scope);
  let workers: WorkerProc[] = [];
  try {
    await sb.write(
      "two.yaml",
      dagText("two_slow", [
        { id: "a", workflow_ref: "sleep", params: { ms: 4000 } },
        { id: "b", workflow_ref: "sleep", params: { ms: 4000 } },
      ]),
    );
    await sb.write("quick.yaml", dagText("quick", [{ id: "a", workflow_ref: "echo" }]));
    const done = await cli(sb, ["run", "--dag", "quick.yaml"]);
    assert.equal(done.code, 0, done.stderr); // a local run: never flagged
    const before = await runs(sb);

    const r = await cli(sb, ["run", "--dag", "two.yaml", "--distributed", "--detach"]);
    assert.equal(r.code, 0, r.stderr);
    const runId = r.stdout.trim();

    await t.step("no worker: NOTE column, --json field, one line on stderr", async () => {
      const now = await runs(sb);
      const [head, first, second] = now.table.trimEnd().split("\n");
      assert.match(head, /DURATION\s+NOTE$/);
      assert.ok(first.startsWith(runId), now.table);
      assert.match(first, /\s+running\s+.*waiting: no worker$/);
      assert.doesNotMatch(second, /waiting/);
      assert.equal(now.stderr, MESSAGE + "\n");
      const row = now.rows.find((x) => x.run_id === runId)!;
      assert.equal(row.status, "running");
      assert.equal(row.waiting, "no_worker");
      assert.ok(now.rows.filter((x) => x !== row).every((x) => !("waiting" in x)));
    });

    await t.step("a busy worker (one slot, one task queued behind it) clears it", async () => {
      workers = await startWorkers(sb, 1, { SCHED_MAX_PARALLEL: "1" });
      await eventually(() =>
        scope.sql`select 1 from task_queue where run_id = ${runId} and state = 'running'`
          .then((x) => x.length > 0)
      );
      const [{ queued }] = await scope.sql`select count(*)::int as queued from task_queue
        where run_id = ${runId} and state = 'queued'`;
      assert.equal(queued, 1, "one task still queued");
      const now = await runs(sb);
      assert.doesNotMatch(now.table, /NOTE|waiting/);
      assert.equal(now.stderr, "");
      assert.ok(now.rows.every((x) => !("waiting" in x)), JSON.stringify(now.rows));
    });

    await t.step("unflagged, the table has the usual columns", async () => {
      const after = await runs(sb);
      const columns = (s: string) => s.split("\n")[0].split(/\s+/);
      assert.deepEqual(columns(after.table), columns(before.table));
      assert.deepEqual(columns(before.table), [
        "RUN_ID",
        "SCHEDULE",
        "DAG",
        "STATUS",
        "STARTED",
        "FINISHED",
        "DURATION",
      ]);
    });
  } finally {
    await stopWorkers(workers);
    await sb.cleanup();
  }
});

pgTest(
  "a foreground distributed run says once that no worker is alive, then a worker runs it",
  async (scope) => {
    const sb = await clusterSandbox(scope);
    let workers: WorkerProc[] = [];
    try {
      await sb.write("one.yaml", dagText("one", [{ id: "a", workflow_ref: "echo" }]));
      const child = spawnOrch(["run", "--dag", "one.yaml", "--distributed"], sb);
      const out = new Response(child.stdout).text(); // drained: the run prints its result
      const err = collectStderr(child);
      await eventually(() => Promise.resolve(err.text().includes(MESSAGE)), 20_000);
      workers = await startWorkers(sb, 1);
      const status = await child.status;
      await err.done;
      assert.match(await out, /one/);
      assert.equal(status.code, 0, err.text() + logs(workers));
      assert.equal(err.text().split(MESSAGE).length - 1, 1, "printed once");
      assert.match(err.text(), new RegExp(`^${escape(MESSAGE)}$`, "m"));
    } finally {
      await stopWorkers(workers);
      await sb.cleanup();
    }
  },
);

pgTest(
  "a foreground distributed run with a live worker says nothing about workers",
  async (scope) => {
    const sb = await clusterSandbox(scope);
    const workers = await startWorkers(sb, 1);
    try {
      await sb.write("one.yaml", dagText("one", [{ id: "a", workflow_ref: "echo" }]));
      const r = await cli(sb, ["run", "--dag", "one.yaml", "--distributed"]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /no orch worker/);
    } finally {
      await stopWorkers(workers);
      await sb.cleanup();
    }
  },
);

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\`]/g, "\\$&");
}

pgTest("a stopped worker stops counting as alive after ORCH_WORKER_LOST_MS", async (scope) => {
  const sb = await clusterSandbox(scope);
  const lost = { ORCH_WORKER_LOST_MS: "1500" };
  const workers = await startWorkers(sb, 1, lost);
  try {
    await sb.write("one.yaml", dagText("one", [{ id: "a", workflow_ref: "echo" }]));
    workers[0].child.kill("SIGSTOP");
    const r = await cli(sb, ["run", "--dag", "one.yaml", "--distributed", "--detach"], lost);
    assert.equal(r.code, 0, r.stderr);
    const runId = r.stdout.trim();
    const flagged = await eventually(async () => {
      const now = await cli(sb, ["runs", "--json"], lost);
      const row = (JSON.parse(now.stdout) as Row[]).find((x) => x.run_id === runId);
      return row?.waiting === "no_worker" && now.stderr === MESSAGE + "\n";
    }, 20_000);
    assert.ok(flagged);
    workers[0].child.kill("SIGCONT");
    await eventually(async () => {
      const now = await cli(sb, ["runs", "--json"], lost);
      const row = (JSON.parse(now.stdout) as Row[]).find((x) => x.run_id === runId);
      return row?.status === "success" && !("waiting" in row);
    }, 20_000);
  } finally {
    try {
      workers[0].child.kill("SIGCONT");
    } catch { /* gone */ }
    await stopWorkers(workers);
    await sb.cleanup();
  }
});
