/**
 * LISTEN/NOTIFY channels are per schema: two stores in one database never wake each
 * other's listeners, and every writer (TypeScript and the server functions) still wakes
 * its own. Real PostgreSQL, two schemas (one with a name too long for a readable channel).
 */
import assert from "node:assert/strict";
import type { Dag } from "../../src/dag/types.ts";
import { buildPlan } from "../../src/plan/mod.ts";
import type { Job, JobOutcome, TaskPool } from "../../src/pool/mod.ts";
import {
  type ClusterDb,
  ClusterWorker,
  followRun,
  submitRun,
} from "../../src/store/postgres/cluster/mod.ts";
import { claimNext } from "../../src/store/postgres/cluster/claim.ts";
import { completeAndClaim, endOf } from "../../src/store/postgres/cluster/complete.ts";
import { type ChannelKind, listenChannel } from "../../src/store/postgres/_channels.ts";
import {
  connectPostgres,
  migrate,
  PostgresEventLog,
  PostgresStateStore,
  type Sql,
} from "../../src/store/postgres/mod.ts";
import { pgConfig, pgTest, schemaUrl } from "./_pg.ts";
import { eventually } from "./_cluster.ts";

const KINDS: ChannelKind[] = ["orch_events", "orch_run_progress", "orch_task_queued"];

/** A second migrated store in the test's database, named `name`, dropped afterwards. */
async function withStore(name: string, fn: (db: ClusterDb) => Promise<void>): Promise<void> {
  const sql = connectPostgres(pgConfig(schemaUrl(name)));
  try {
    await migrate(sql, { schema: name });
    await fn({ sql, schema: name });
  } finally {
    try {
      await sql`drop schema if exists ${sql(name)} cascade`;
    } finally {
      await sql.end();
    }
  }
}

/** A schema name of 63 bytes, the longest PostgreSQL allows: its channels are hashed. */
function longName(): string {
  return `orch_t_${crypto.randomUUID().replaceAll("-", "")}`.padEnd(63, "x");
}

/** Every notification each kind's channel of a store delivered, in order. */
async function record(sql: Sql): Promise<{ got: string[]; stop: () => Promise<void> }> {
  const got: string[] = [];
  const stops = await Promise.all(
    KINDS.map((kind) => listenChannel(sql, kind, (p) => got.push(`${kind} ${p}`))),
  );
  return {
    got,
    stop: async () => {
      for (const stop of stops) await stop();
    },
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function chain(name: string): Dag {
  const task = (id: string, dependsOn: string[]) => ({
    id,
    workflowRef: "fake",
    params: {},
    retries: 0,
    retryDelayS: 0,
    dependsOn,
  });
  return { name, dagId: name, tenantId: "t", tasks: [task("a", []), task("b", ["a"])] };
}

async function submitChain(db: ClusterDb, runId: string): Promise<string> {
  const dag = chain("chain");
  return await submitRun(db, {
    dag,
    plan: buildPlan(dag),
    sources: dag.tasks.map(() => ({ kind: "builtin", name: "fake" })),
  }, { runId, host: "h", pid: 1 });
}

/** A pool that succeeds at once with `{}`. */
const instantPool: TaskPool = {
  size: 2,
  run(_job: Job): Promise<JobOutcome> {
    const now = Date.now();
    return Promise.resolve({
      ok: true,
      output: {},
      outputJson: "{}",
      startedAt: now,
      endedAt: now,
    });
  },
  inspect: () => Promise.resolve([]),
  cancelRun: () => {},
  close: () => Promise.resolve(),
};

pgTest("orch_channel() names each kind's channel after the schema, within 63 bytes", async (s) => {
  const long = longName();
  const rows = await s.sql<{ short: string; long: string; other: string }[]>`
    select orch_channel('orch_run_progress', ${s.schema}) as short,
      orch_channel('orch_run_progress', ${long}) as long,
      orch_channel('orch_run_progress', ${long.slice(0, -1) + "y"}) as other`;
  assert.equal(rows[0].short, `orch_run_progress_${s.schema}`);
  assert.match(rows[0].long, /^orch_run_progress#[0-9a-f]{32}$/);
  assert.notEqual(rows[0].long, rows[0].other);
});

pgTest("a store's writes wake only its own listeners, on every channel", async (a) => {
  await withStore(longName(), async (b) => {
    const onA = await record(a.sql);
    const onB = await record(b.sql);
    try {
      // B's traffic: the event log, the state store, and a cluster run whose first end
      // goes through the server function (orch_complete_ok, leaving b queued for others)
      // and whose second, a failure, through TypeScript (settle, finish).
      const log = new PostgresEventLog(b.sql);
      log.append({ timestamp: new Date().toISOString(), event: "task_log", run_id: "x" });
      await log.flush();
      await new PostgresStateStore(b.sql, { schema: b.schema }).recordEvent({
        event: "run_started",
        run_id: "x",
        dag_name: "d",
      });
      const runId = await submitChain(b, "run-b");
      const opts = { worker: "w", lostMs: 10_000 };
      const [first] = (await claimNext(b.sql, { ...opts, limit: 1 })).claimed;
      const now = Date.now();
      const ok = { ok: true, output: {}, outputJson: "{}", startedAt: now, endedAt: now } as const;
      await completeAndClaim(b, [endOf(first, ok)], { ...opts, claim: 0 });
      const [second] = (await claimNext(b.sql, { ...opts, limit: 1 })).claimed;
      const failed = {
        ok: false,
        error: { name: "Error", message: "no" },
        startedAt: now,
        endedAt: now,
      } as const;
      await completeAndClaim(b, [endOf(second, failed)], { ...opts, claim: 0 });
      const [{ status }] = await b.sql`select status from runs where run_id = ${runId}`;
      assert.equal(status, "failed");

      // Last, a marker on each store's own channel: a listen connection gets
      // notifications in commit order, so whatever else it gets is here before it.
      for (const x of [a, b]) {
        await x.sql`select pg_notify(orch_channel('orch_events', current_schema()), 'end')`;
      }
      await until(() => onA.got.at(-1) === "orch_events end", "A's marker");
      await until(() => onB.got.at(-1) === "orch_events end", "B's marker");
      assert.deepEqual(onA.got, ["orch_events end"]);
      assert.deepEqual(onB.got, [
        `orch_events ${b.schema}`, // the event log
        `orch_events ${b.schema}`, // the state store
        `orch_task_queued ${runId}`, // submitted
        `orch_run_progress ${runId}`, // a's end (orch_complete_ok)
        `orch_task_queued ${runId}`, // b queued by it
        `orch_run_progress ${runId}`, // b's failure and the run's end (TypeScript)
        "orch_events end",
      ]);
    } finally {
      await onA.stop();
      await onB.stop();
    }
  });
});

pgTest(
  "workers and followers are woken on their own store's channels (polling off)",
  async (a) => {
    await withStore(longName(), async (b) => {
      const stop = new AbortController();
      const workers = [a, b].map((db) =>
        new ClusterWorker(db, instantPool, { name: `w-${db.schema}`, pollMs: 600_000 })
      );
      const serving = workers.map((w) => w.serve(stop.signal));
      try {
        const started = Date.now();
        for (const [k, db] of [a, b].entries()) {
          const runId = await submitChain(db, `run-${k}`);
          const result = await followRun(db, runId, { pollMs: 600_000 });
          assert.equal(result.status, "success");
        }
        assert.ok(Date.now() - started < 60_000, "woken, not polled");
        // A worker counts its attempts once its completing call returns, which can be
        // after the follower has seen that call's commit end the run.
        await eventually(() => Promise.resolve(workers.every((w) => w.finished === 2)), 5000)
          .catch(() => {});
        assert.deepEqual(workers.map((w) => w.finished), [2, 2]);
      } finally {
        stop.abort();
        await Promise.all(serving);
      }
    });
  },
);

pgTest("no server function of the store notifies a database-wide channel", async (s) => {
  const rows = await s.sql<{ proname: string; src: string }[]>`
    select p.proname, p.prosrc as src from pg_proc p
    join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = ${s.schema} and p.prosrc like '%pg_notify%'`;
  assert.deepEqual(rows.map((r) => r.proname).sort(), ["orch_complete_ok", "orch_run_end"]);
  for (const r of rows) {
    assert.doesNotMatch(r.src, /pg_notify\s*\(\s*'/, `${r.proname} names a global channel`);
    assert.match(r.src, /pg_notify\(orch_channel\('orch_[a-z_]+', p_schema\)/, r.proname);
  }
});

pgTest(
  "a listener's session outlives idle_session_timeout (no re-listen, no lost notification)",
  async (s) => {
    const sql = connectPostgres(pgConfig(`${schemaUrl(s.schema)}&idle_session_timeout=500`));
    let listens = 0;
    const got: string[] = [];
    const stop = await listenChannel(sql, "orch_events", (p) => got.push(p), () => listens++);
    try {
      await new Promise((r) => setTimeout(r, 1600)); // three idle timeouts
      await s.sql`select pg_notify(orch_channel('orch_events', current_schema()), 'after')`;
      await until(() => got.length > 0, "the notification");
      assert.deepEqual({ listens, got }, { listens: 1, got: ["after"] });
    } finally {
      await stop();
      await sql.end();
    }
  },
);
