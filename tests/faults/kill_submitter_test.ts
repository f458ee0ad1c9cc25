/**
 * Fault injection (PostgreSQL only, `deno task test:faults:pg`): SIGKILL the submitter of
 * a foreground distributed run (`orch run --distributed`) at random points, FAULT_KILLS
 * times (default 8) with a printed seed. The run lives in the database, not in its
 * submitter: every run that was submitted must still complete through the `orch worker`s,
 * each task exactly once, and no recovery may call it `interrupted`.
 */
import assert from "node:assert/strict";
import { orch, readEvents, REPO, sandbox } from "../helpers/cli.ts";
import { ON_PG, withSql } from "../helpers/backend.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";
import {
  eventually,
  logs,
  startWorkers,
  stopWorkers,
  type WorkerProc,
} from "../postgres/_cluster.ts";
import { FAULT_SEED, faultKills, type Line, seeded } from "./_fault.ts";

const KILLS = faultKills(8);
const WORKER_ENV = { ORCH_WORKER_LOST_MS: "2000", SCHED_MAX_PARALLEL: "3" };

/** A diamond of about 0.6 s: a -> (b, c, d) -> e -> f. */
function diamond(): string {
  const sleep = (id: string, deps: string[]) => ({
    id,
    workflow_ref: "sleep",
    params: { ms: 150 },
    depends_on: deps,
  });
  return dagYaml("submitted", [
    sleep("a", []),
    sleep("b", ["a"]),
    sleep("c", ["a"]),
    { id: "d", workflow_ref: "logger", depends_on: ["a"] },
    sleep("e", ["b", "c", "d"]),
    { id: "f", workflow_ref: "echo", depends_on: ["e"] },
  ]);
}

Deno.test({
  name:
    `SIGKILL of a distributed run's submitter at ${KILLS} random points: every submitted run completes on the workers (seed ${FAULT_SEED})`,
  ignore: !ON_PG,
  fn: async () => {
    const sb = await sandbox();
    sb.env.WORKFLOWS_DIR = FIXTURE_WORKFLOWS;
    const env = { ...sb.env, NO_COLOR: "1", RUST_BACKTRACE: "0" };
    let workers: WorkerProc[] = [];
    const random = seeded(FAULT_SEED);
    try {
      workers = await startWorkers(sb, 2, WORKER_ENV);
      const dag = await sb.write("d.yaml", diamond());
      const args = ["run", "-A", "--quiet", `${REPO}/main.ts`, "run", "--dag", dag];
      const spawn = () =>
        new Deno.Command(Deno.execPath(), {
          args: [...args, "--distributed", "--quiet"],
          cwd: sb.dir,
          env,
          stdout: "null",
          stderr: "null",
        }).spawn();
      const t0 = performance.now();
      assert.equal((await spawn().status).code, 0, "the unkilled run failed");
      const life = performance.now() - t0;
      const killedPids: number[] = [];
      let midRun = 0; // submitted and still running when its submitter died
      for (let i = 0; i < KILLS; i++) {
        const child = spawn();
        // 30-90 % of an unkilled life: before the submit, while following, near the end.
        const delay = Math.floor(life * (0.3 + random() * 0.6));
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* exited */ }
        }, delay);
        const status = await child.status;
        clearTimeout(timer);
        if (status.signal !== "SIGKILL") continue;
        killedPids.push(child.pid);
        const [row] = await withSql(
          sb.store!,
          (sql) => sql<{ status: string }[]>`select status from runs where pid = ${child.pid}`,
        );
        if (row?.status === "running") midRun++;
      }
      const runsOf = () =>
        withSql(sb.store!, (sql) =>
          sql<{ run_id: string; status: string; pid: number }[]>`
            select run_id, status, pid from runs order by run_id`);
      const rows = await eventually(async () => {
        const r = await runsOf();
        return r.every((x) => x.status !== "running") ? r : null;
      }, 30_000).catch(async () => {
        throw new Error(`runs left running: ${JSON.stringify(await runsOf())}\n${logs(workers)}`);
      });
      const orphans = rows.filter((r) => killedPids.includes(r.pid));
      assert.ok(midRun > 0, "no kill landed while a submitted run was running");
      assert.deepEqual(rows.filter((r) => r.status !== "success"), [], "runs not successful");
      const listed = await orch(["runs", "--json", "--limit", "100"], { cwd: sb.dir, env });
      assert.equal(listed.code, 0, listed.stderr);
      assert.doesNotMatch(listed.stderr, /Recovered/, "a cluster run is never interrupted");
      const byRun = new Map<string, Line[]>();
      for (const e of await readEvents(sb)) {
        byRun.set(String(e.run_id), [...(byRun.get(String(e.run_id)) ?? []), e]);
      }
      for (const r of rows) {
        const ev = byRun.get(r.run_id) ?? [];
        const oks = ev.filter((e) => e.event === "task_ok").map((e) => e.task_id).sort();
        assert.deepEqual(oks, ["a", "b", "c", "d", "e", "f"], `run ${r.run_id}: each task once`);
        assert.equal(ev[0]?.event, "dag_start", `run ${r.run_id}`);
        assert.equal(ev.filter((e) => e.event === "dag_done").length, 1, `run ${r.run_id}`);
        assert.equal(ev.at(-1)!.event, "dag_done", `run ${r.run_id}: dag_done last`);
      }
      console.log(
        `${killedPids.length}/${KILLS} submitters killed (unkilled life ${Math.round(life)} ms), ` +
          `${orphans.length} of their runs submitted (${midRun} still running at the kill), ` +
          "all completed by the workers",
      );
    } finally {
      await stopWorkers(workers, 5000);
      await sb.cleanup();
    }
  },
});
