/**
 * A/B of the warm engine in one process (not part of `deno task bench`): imports
 * `executeDag`, `WorkerPool`, `prepareRun`, `EventLog` and the registry from two source
 * trees, keeps one pool of 2 workers per tree, and runs a DAG through each in alternation,
 * events written to a file. Prints dag start..done per task and the main thread's CPU per
 * task (schedstat of this thread), medians and pairs won. CPU is less sensitive to other
 * load on the machine than elapsed time.
 *
 *   deno run -A bench/ab_warm.ts --a /tmp/base --b . --dag /tmp/dags/fan_10000.json --reps 15
 *
 * `--dag` takes the `.json` spec that `bench/gen_dags.ts` writes beside each `.yaml`.
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { buildGraph, median, verifyDepths } from "./_graph.ts";
import type { Spec } from "./gen_dags.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    a: { type: "string" },
    b: { type: "string", default: "." },
    dag: { type: "string", multiple: true },
    reps: { type: "string", default: "15" },
  },
});
const reps = Number(values.reps);
const dir = await Deno.makeTempDir({ prefix: "orch-abw-" });

// deno-lint-ignore no-explicit-any
type Any = any;
async function engine(root: string) {
  const m = (p: string) => import(`file://${resolve(root)}/${p}`);
  const [{ executeDag }, { WorkerPool }, { prepareRun }, { EventLog }, { WorkflowRegistry }] =
    await Promise.all([
      m("src/run/executor.ts"),
      m("src/pool/mod.ts"),
      m("src/run/prepare.ts"),
      m("src/store/event_log.ts"),
      m("src/workflows/registry.ts"),
    ]);
  const pool = new WorkerPool({ size: 2 });
  const registry = await WorkflowRegistry.scan(`${resolve(root)}/bench/workflows`, []);
  return { executeDag, pool, prepareRun, EventLog, registry } as Any;
}

/** On-CPU nanoseconds of the calling thread (the main thread: tid = pid). */
function threadCpuNs(): number {
  return Number(
    Deno.readTextFileSync(`/proc/${Deno.pid}/task/${Deno.pid}/schedstat`).split(" ")[0],
  );
}

/** On-CPU nanoseconds of every thread of this process (the workers included). */
function processCpuNs(): number {
  let ns = 0;
  for (const t of Deno.readDirSync(`/proc/${Deno.pid}/task`)) {
    try {
      ns += Number(
        Deno.readTextFileSync(`/proc/${Deno.pid}/task/${t.name}/schedstat`).split(" ")[0],
      );
    } catch { /* thread ended */ }
  }
  return ns;
}

const engines = [await engine(values.a!), await engine(values.b!)];
let runNo = 0;
for (const json of values.dag ?? []) {
  const spec = JSON.parse(await Deno.readTextFile(json)) as Spec;
  const g = buildGraph(spec);
  const yaml = json.replace(/\.json$/, ".yaml");
  const prepared = [];
  for (const e of engines) prepared.push(await e.prepareRun(yaml, e));
  const us: number[][] = [[], []];
  const cpu: number[][] = [[], []];
  const all: number[][] = [[], []];
  for (let r = 0; r <= reps; r++) {
    for (const t of r % 2 ? [1, 0] : [0, 1]) {
      const e = engines[t];
      const events = new e.EventLog(`${dir}/ev-${t}.jsonl`);
      const c0 = threadCpuNs();
      const p0 = processCpuNs();
      const t0 = performance.now();
      const res = await e.executeDag({
        ...prepared[t],
        pool: e.pool,
        events,
        clock: { now: () => new Date() },
        sleep: (ms: number) => new Promise((ok) => setTimeout(ok, ms)),
        runId: `ab-${runNo++}`,
      });
      await events.flush();
      const ms = performance.now() - t0;
      const cpuMs = (threadCpuNs() - c0) / 1e6;
      const allMs = (processCpuNs() - p0) / 1e6;
      await events.close();
      await Deno.remove(`${dir}/ev-${t}.jsonl`);
      const byId = new Map(res.tasks.map((x: Any) => [x.id, x.output?.depth]));
      verifyDepths(g, (i) => byId.get(g.ids[i]) as number | undefined);
      if (r === 0) continue; // warm-up
      us[t].push(ms * 1000 / g.n);
      cpu[t].push(cpuMs * 1000 / g.n);
      all[t].push(allMs * 1000 / g.n);
    }
  }
  const won = (xs: number[][]) => xs[0].filter((x, k) => xs[1][k] < x).length;
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  console.log(
    `${spec.name}: us/task A ${median(us[0]).toFixed(2)} B ${median(us[1]).toFixed(2)} (B faster ${
      won(us)
    }/${reps}); main-thread CPU us/task A ${median(cpu[0]).toFixed(2)} B ${
      median(cpu[1]).toFixed(2)
    } (B less ${won(cpu)}/${reps}); all threads A ${median(all[0]).toFixed(2)} B ${
      median(all[1]).toFixed(2)
    } (B less ${won(all)}/${reps}); load ${load}`,
  );
}
for (const e of engines) await e.pool.close();
await Deno.remove(dir, { recursive: true });
