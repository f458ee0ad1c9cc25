/**
 * A distributed run whose tasks are queued while no `orch worker` is alive says so: in
 * `orch runs` (a NOTE column, `--json` field `waiting`, a line on stderr) and once on the
 * foreground submitter's stderr. A live worker, even busy, clears it. Real processes,
 * real PostgreSQL.
 */
import assert from "node:assert/strict";
import type { Sandbox } from "../helpers/cli.ts";
import { spawnOrch } from "../e2e/_sched.ts";
import type { Dag } from "../../src/dag/types.ts";
import { buildPlan } from "../../src/plan/mod.ts";
import { submitRun } from "../../src/store/postgres/cluster/mod.ts";
import { runsWaitingForWorker } from "../../src/store/postgres/worker_presence.ts";
import { collectStderr, PG_URL, pgTest } from "./_pg.ts";
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

/**
 * Opens a raw protocol session named as a worker's and leaves it inside an extended query
 * (Parse and Flush, no Sync): the server shows it `active`, waiting for the client, as it
 * shows a worker stopped between a Describe and its Bind.
 */
async function sessionStoppedMidQuery(schema: string): Promise<Deno.Conn> {
  const url = new URL(PG_URL!);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port || 5432) });
  const enc = new TextEncoder();
  const message = (type: string, body: Uint8Array) => {
    const out = new Uint8Array(body.length + (type ? 5 : 4));
    let at = 0;
    if (type) out[at++] = type.charCodeAt(0);
    new DataView(out.buffer).setInt32(at, body.length + 4);
    out.set(body, at + 4);
    return out;
  };
  const params = ["user", decodeURIComponent(url.username), "database", url.pathname.slice(1)]
    .concat(["application_name", `orch worker [${schema}]`]);
  const startup = enc.encode(`\0\x03\0\0${params.join("\0")}\0\0`);
  await conn.write(message("", startup));
  await readUntilByte(conn, "Z".charCodeAt(0)); // ReadyForQuery
  const parse = enc.encode("\0select pg_sleep(0)\0\0\0");
  await conn.write(new Uint8Array([...message("P", parse), ...message("H", new Uint8Array())]));
  await readUntilByte(conn, "1".charCodeAt(0)); // ParseComplete
  return conn;
}

/** Reads messages until one of `type` (type byte, then a 4-byte length counting itself). */
async function readUntilByte(conn: Deno.Conn, type: number): Promise<void> {
  let buf = new Uint8Array();
  while (true) {
    while (buf.length >= 5) {
      const len = new DataView(buf.buffer, buf.byteOffset).getInt32(1);
      if (buf.length < 1 + len) break;
      if (buf[0] === type) return;
      buf = buf.slice(1 + len);
    }
    const chunk = new Uint8Array(4096);
    const n = await conn.read(chunk);
    if (n === null) throw new Error("connection closed");
    buf = new Uint8Array([...buf, ...chunk.subarray(0, n)]);
  }
}

pgTest(
  "runsWaitingForWorker() does not count a worker session stopped mid-query as alive",
  async (scope) => {
    const db = { sql: scope.sql, schema: scope.schema };
    const dag: Dag = {
      name: "one",
      dagId: "one",
      tenantId: "t",
      tasks: [{
        id: "a",
        workflowRef: "echo",
        params: {},
        retries: 0,
        retryDelayS: 0,
        dependsOn: [],
      }],
    };
    const runId = await submitRun(db, {
      dag,
      plan: buildPlan(dag),
      sources: [{ kind: "builtin", name: "echo" }],
    }, { runId: "r1", host: "h", pid: 1 });
    const conn = await sessionStoppedMidQuery(scope.schema);
    try {
      // The backend reports the wait once it reads again, just after its ParseComplete.
      await eventually(() =>
        scope.sql`select 1 from pg_stat_activity
          where application_name = ${`orch worker [${scope.schema}]`}
            and state = 'active' and wait_event_type = 'Client'`.then((r) => r.length > 0)
      );
      const waiting = () =>
        runsWaitingForWorker(scope.sql, { schema: scope.schema, runIds: [runId], lostMs: 200 });
      await eventually(async () => (await waiting()).has(runId), 10_000);
    } finally {
      conn.close();
    }
  },
);
