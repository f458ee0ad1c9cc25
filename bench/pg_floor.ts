/**
 * `deno run -A bench/pg_floor.ts`: the floor PostgreSQL alone sets for cluster runs. The
 * statements `orch worker` sends (`orch_claim`, `orch_complete_ok`, through the same
 * `claimNext` / `completeAndClaim` code), driven by a minimal loop with no task pool, no
 * worker process and no submitter: each driver (its own connection) claims up to
 * `--claim` attempts, "runs" them at once (output `{id, depth}`) and records them with
 * its next claim in one call. Reports:
 *
 * - `layered_<n>` (bench/gen_dags.ts) with `--drivers` drivers: tasks/s, calls, and the
 *   CPU time per task of the drivers' PostgreSQL backends (from /proc) and of this
 *   process (the drivers);
 * - a chain of `--chain` tasks with one driver: the time per edge (one call per task).
 *
 * The database is submitted to with `submitRun` (as `orch run --distributed`) on a fresh
 * schema, dropped at the end. Flags: `--store URL` (default ORCH_BENCH_PG, else the local
 * test server), `--n 10000`, `--drivers 2`, `--claim 256`, `--chain 300`.
 * @module
 */
import { parseArgs } from "node:util";
import { buildPlan } from "../src/plan/build_plan.ts";
import type { Dag } from "../src/dag/types.ts";
import type { WorkflowSource } from "../src/workflows/registry.ts";
import { connectPostgres, migrate, parseStoreConfig, type Sql } from "../src/store/postgres/mod.ts";
import { submitRun } from "../src/store/postgres/cluster/submit.ts";
import { type ClaimedAttempt, claimNext } from "../src/store/postgres/cluster/claim.ts";
import {
  completeAndClaim,
  endOf,
  type FinishedAttempt,
} from "../src/store/postgres/cluster/complete.ts";
import { makeSpec, type Spec } from "./gen_dags.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    store: { type: "string" },
    n: { type: "string", default: "10000" },
    drivers: { type: "string", default: "2" },
    claim: { type: "string", default: "256" },
    chain: { type: "string", default: "300" },
  },
});
const BASE = values.store ?? Deno.env.get("ORCH_BENCH_PG") ??
  "postgres://postgres@127.0.0.1:5432/orch_test";
const LOST_MS = 10_000;
const SOURCE = {
  kind: "file",
  name: "noop",
  path: "/dev/null/noop.ts",
} as unknown as WorkflowSource;

/** CPU seconds (user + system) of a process, from /proc. */
function cpuS(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

function dagOf(spec: Spec): Dag {
  return {
    name: spec.name,
    dagId: spec.name,
    tenantId: "bench",
    tasks: spec.tasks.map((t) => ({
      id: t.id,
      workflowRef: "noop",
      params: {},
      retries: 0,
      retryDelayS: 0,
      dependsOn: t.deps,
    })),
  };
}

/** The output the bench's no-op returns: 1 + the deepest upstream depth. */
function outputOf(c: ClaimedAttempt): string {
  let d = 0;
  for (const [, text] of c.job.upstream ?? []) d = Math.max(d, JSON.parse(text).depth ?? 0);
  return JSON.stringify({ id: c.job.taskId, depth: d + 1 });
}

function ended(c: ClaimedAttempt): FinishedAttempt {
  const now = Date.now();
  const outputJson = outputOf(c);
  return endOf(c, {
    ok: true,
    outputJson,
    output: JSON.parse(outputJson),
    startedAt: now,
    endedAt: now,
  });
}

function taskStart(c: ClaimedAttempt): Record<string, unknown> {
  return {
    timestamp: new Date().toISOString(),
    event: "task_start",
    task_id: c.job.taskId,
    attempt: c.job.attempt,
    workflow_ref: "noop",
    params: {},
    ...c.tag,
    v: 1,
  };
}

/** Drives one run to its end with `k` drivers; returns ms, calls, backend CPU s. */
async function drive(url: string, schema: string, spec: Spec, k: number, claim: number) {
  const config = parseStoreConfig(url);
  if (config.kind !== "postgres") throw new Error("not postgres");
  const clients = Array.from({ length: k }, () => connectPostgres(config, { max: 1 }));
  const pids = await Promise.all(clients.map(async (c) => {
    const [{ pid }] = await c<{ pid: number }[]>`select pg_backend_pid() as pid`;
    return pid;
  }));
  const db0 = { sql: clients[0], schema };
  const dag = dagOf(spec);
  const s0 = performance.now();
  await submitRun(db0, { dag, plan: buildPlan(dag), sources: dag.tasks.map(() => SOURCE) }, {
    runId: `floor-${crypto.randomUUID().slice(0, 8)}`,
    host: "bench",
    pid: Deno.pid,
  });
  const submitMs = performance.now() - s0;
  const cpu0 = pids.map(cpuS);
  const self0 = cpuS(Deno.pid);
  let done = false;
  let calls = 0;
  const t0 = performance.now();
  await Promise.all(clients.map(async (sql, i) => {
    const db = { sql, schema };
    const worker = `floor-${i}`;
    let claimed: ClaimedAttempt[] = [];
    while (!done) {
      if (claimed.length === 0) {
        calls++;
        claimed = (await claimNext(sql, { worker, limit: claim, lostMs: LOST_MS })).claimed;
        if (claimed.length === 0) await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      calls++;
      const r = await completeAndClaim(db, claimed.map(ended), {
        worker,
        claim,
        lostMs: LOST_MS,
        before: claimed.map(taskStart),
      });
      claimed = r.claimed;
      if (r.finished.length > 0) done = true;
    }
  }));
  const ms = performance.now() - t0;
  const pgCpu = pids.map(cpuS).reduce((a, b, j) => a + b - cpu0[j], 0);
  const selfCpu = cpuS(Deno.pid) - self0;
  await Promise.all(clients.map((c) => c.end()));
  return { ms, calls, pgCpu, selfCpu, submitMs };
}

const base = new URL(BASE);
const admin = connectPostgres(parseStoreConfig(BASE) as never, { max: 1 }) as Sql;
const schema = `orch_floor_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
base.searchParams.set("schema", schema);
const url = base.toString();
try {
  const scoped = connectPostgres(parseStoreConfig(url) as never, { max: 1 });
  await migrate(scoped, { schema });
  await scoped.end();
  const n = Number(values.n);
  const k = Number(values.drivers);
  const l = await drive(url, schema, makeSpec("layered", n), k, Number(values.claim));
  console.log(
    `layered_${n}, ${k} driver(s), claim ${values.claim}: ${(n / (l.ms / 1000)).toFixed(0)} ` +
      `tasks/s (${(l.ms / 1000).toFixed(2)} s, ${l.calls} calls, ${(n / l.calls).toFixed(1)} ` +
      `tasks/call); CPU per task: PostgreSQL backends ${(l.pgCpu / n * 1e6).toFixed(0)} µs, ` +
      `drivers ${(l.selfCpu / n * 1e6).toFixed(0)} µs; the submit transaction (submitRun) ` +
      `took ${l.submitMs.toFixed(0)} ms`,
  );
  const m = Number(values.chain);
  const c = await drive(url, schema, makeSpec("chain", m), 1, 1);
  console.log(
    `chain_${m}, 1 driver: ${(c.ms / m).toFixed(2)} ms per edge (one call each); CPU per ` +
      `task: PostgreSQL backend ${(c.pgCpu / m * 1e6).toFixed(0)} µs, driver ` +
      `${(c.selfCpu / m * 1e6).toFixed(0)} µs`,
  );
} finally {
  await admin`drop schema if exists ${admin(schema)} cascade`;
  await admin.end();
}
