// Worker failover across hosts, through the CLI only (`orch worker`, `orch run
// --distributed`, `orch runs`) and the run's events: a worker whose host is cut off from
// the database, or SIGKILLed, mid-task. Its attempts must end as failed attempts with
// reason `worker_lost` and be retried on the other host; completed tasks must not run
// again; a cut-off worker that comes back must not store a second result.
import assert from "node:assert/strict";
import { orch, sandbox } from "../helpers/cli.ts";
import { spawnOrch } from "../e2e/_sched.ts";
import type { PgScope } from "./_pg.ts";
import { collectStderr } from "./_pg.ts";
import { type Host, netnsTest, reap, waitFor } from "./_netns.ts";

/** How long a slow task sleeps; longer than the worker-lost bound, so failover wins. */
const SLOW_MS = 6000;
/** ORCH_WORKER_LOST_MS for every process of the test. */
const LOST_MS = "2000";

/**
 * The slow task: marks its start in `marks/` (relative to the worker's directory) so
 * the test knows an attempt runs, without reading orch's internal tables, then sleeps.
 */
const SLOW = `export default {
  description: "Marks its start, then sleeps params.ms",
  permissions: { write: ["marks"] },
  async run(params, ctx) {
    Deno.writeTextFileSync(\`marks/\${ctx.taskId}.\${ctx.attempt}.\${Date.now()}\`, "");
    await new Promise((r) => setTimeout(r, params.ms));
    return { slept: params.ms };
  },
};
`;
const QUICK = `export default { run: (params) => ({ ...params }) };\n`;

/** t0 (quick) -> s1, s2 (slow, one retry) -> end (quick). */
const DAG = JSON.stringify({
  name: "failover",
  tenant_id: "t",
  tasks: [
    { id: "t0", workflow_ref: "quick", params: { n: 0 } },
    ...["s1", "s2"].map((id) => ({
      id,
      workflow_ref: "slow",
      params: { ms: SLOW_MS },
      depends_on: ["t0"],
      retries: 1,
      retry_delay_s: 0,
    })),
    { id: "end", workflow_ref: "quick", params: { n: 1 }, depends_on: ["s1", "s2"] },
  ],
});

type Ev = { id: string; event: string; task_id?: string; attempt?: number; text: string };

async function runEvents(scope: PgScope): Promise<Ev[]> {
  const rows = await scope.sql<{ id: string; event: string; body: Record<string, unknown> }[]>`
    select id, event, body from events order by id`;
  return rows.map((r) => ({
    id: r.id,
    event: r.event,
    task_id: r.body.task_id as string | undefined,
    attempt: r.body.attempt as number | undefined,
    text: JSON.stringify(r.body),
  }));
}

const oks = (evs: Ev[], task: string) =>
  evs.filter((e) => e.event === "task_ok" && e.task_id === task);

/**
 * Workers on hosts A and B; the run is submitted from the root namespace while only A
 * serves, so A claims s1 and s2; then B starts and `fail(A)` happens mid-task.
 */
async function failover(
  scope: PgScope,
  [a, b]: Host[],
  fail: (worker: Deno.ChildProcess, host: Host) => Promise<void>,
  afterRun: (worker: Deno.ChildProcess, host: Host) => Promise<void>,
): Promise<void> {
  const sb = await sandbox();
  const children: Deno.ChildProcess[] = [];
  const env = (h: Host | null) => ({
    ...sb.env,
    ORCH_STORE: h ? h.storeUrl(scope.url) : scope.url,
    ORCH_WORKER_LOST_MS: LOST_MS,
    SCHED_MAX_PARALLEL: "4",
  });
  const worker = (h: Host) => {
    const child = h.orch(["worker"], { cwd: sb.dir, env: env(h) });
    children.push(child);
    return { child, err: collectStderr(child) };
  };
  try {
    await sb.write("dag.yaml", DAG);
    await sb.write("workflows/slow.js", SLOW);
    await sb.write("workflows/quick.js", QUICK);
    await Deno.mkdir(`${sb.dir}/marks`);
    const marks = async () => {
      const names: string[] = [];
      for await (const e of Deno.readDir(`${sb.dir}/marks`)) names.push(e.name);
      return names;
    };
    const wa = worker(a);
    await waitFor(() => /serving/.test(wa.err.text()), 20_000, () => `A serves:\n${wa.err.text()}`);
    const run = spawnOrch(["run", "--dag", "dag.yaml", "--distributed", "--json"], sb, env(null));
    children.push(run);
    const runOut = run.output();
    await waitFor(
      async () => {
        const m = await marks();
        return m.some((n) => n.startsWith("s1.1.")) && m.some((n) => n.startsWith("s2.1."));
      },
      20_000,
      () => `s1 and s2 to start on A:\n${wa.err.text()}`,
    );
    const bAt = performance.now();
    const wb = worker(b);
    await waitFor(() => /serving/.test(wb.err.text()), 20_000, () => `B serves:\n${wb.err.text()}`);
    console.log(`worker B serving after ${(performance.now() - bAt).toFixed(0)} ms`);
    await waitFor(
      async () => oks(await runEvents(scope), "t0").length === 1,
      10_000,
      "t0's task_ok before the failure",
    );
    const before = await runEvents(scope);
    assert.equal(
      oks(before, "s1").length + oks(before, "s2").length,
      0,
      `s1, s2 still running:\n${before.map((e) => e.text).join("\n")}`,
    );

    const failedAt = performance.now();
    await fail(wa.child, a);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<null>((r) => timer = setTimeout(() => r(null), 40_000));
    const out = await Promise.race([runOut, bound]);
    clearTimeout(timer);
    const logs = () => `A:\n${wa.err.text()}\nB:\n${wb.err.text()}`;
    assert.ok(
      out,
      `the run did not complete within 40 s of losing worker A (needs worker_lost re-queue)\n${logs()}`,
    );
    console.log(`run completed ${(performance.now() - failedAt).toFixed(0)} ms after A was lost`);
    const dec = new TextDecoder();
    assert.equal(out.code, 0, dec.decode(out.stderr));
    const result = JSON.parse(dec.decode(out.stdout));
    assert.equal(result.status, "success");

    await afterRun(wa.child, a);
    const evs = await runEvents(scope);
    for (const t of ["t0", "s1", "s2", "end"]) {
      assert.equal(oks(evs, t).length, 1, `${t} succeeded exactly once\n${logs()}`);
    }
    assert.equal(evs.filter((e) => e.task_id === "t0" && e.event === "task_start").length, 1);
    for (const t of ["s1", "s2"]) {
      const lost = evs.filter((e) =>
        e.event === "task_fail" && e.task_id === t && /worker[_ ]?lost/i.test(e.text)
      );
      assert.equal(lost.length, 1, `${t}'s attempt on A failed with worker_lost`);
      assert.equal(oks(evs, t)[0].attempt, 2, `${t} succeeded on its retry`);
    }
    const done = evs.find((e) => e.event === "dag_done");
    assert.ok(done);
    const late = evs.filter((e) => BigInt(e.id) > BigInt(done.id) && /^task_/.test(e.event));
    assert.deepEqual(late.map((e) => e.text), [], "no task event stored after dag_done");
    const runs = await orch(["runs", "--json"], { cwd: sb.dir, env: env(null) });
    assert.equal(runs.code, 0, runs.stderr);
    const rows = JSON.parse(runs.stdout) as { run_id: string; status: string }[];
    assert.deepEqual(rows.map((r) => [r.run_id, r.status]), [[result.run_id, "success"]]);
  } finally {
    for (const c of children) await reap(c);
    await sb.cleanup();
  }
}

netnsTest(
  "a worker's host cut off from the database mid-task: its attempts fail with worker_lost and run on the other host; no duplicate after the link returns",
  2,
  (scope, hosts) =>
    failover(scope, hosts, (_w, a) => a.cut(), async (_w, a) => {
      await a.restore();
      // A's local attempts finish (SLOW_MS after they started) and A tries to store them.
      await new Promise((r) => setTimeout(r, SLOW_MS));
    }),
);

netnsTest(
  "a worker SIGKILLed mid-task: its attempts fail with worker_lost and run on the other host",
  2,
  (scope, hosts) =>
    failover(scope, hosts, (w) => {
      w.kill("SIGKILL");
      return Promise.resolve();
    }, () => Promise.resolve()),
);
