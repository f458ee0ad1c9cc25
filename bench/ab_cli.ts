/**
 * A/B of the engine through the CLI, for profiling rounds (not part of `deno task bench`):
 * runs `orch run --dag X --json` of two source trees in alternation, fresh processes,
 * SCHED_MAX_PARALLEL=2 (or `--parallel`), and prints per run dag_start..dag_done per task
 * (as `bench/orch_cli.ts` measures it), the wall time, and the time per 1,000 finished
 * tasks (cold JIT shows in the first segments), then medians and pairs won.
 *
 *   deno run -A bench/ab_cli.ts --a /tmp/base --b . --dag /tmp/dags/fan_10000.yaml --reps 9
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    a: { type: "string" },
    b: { type: "string", default: "." },
    dag: { type: "string", multiple: true },
    reps: { type: "string", default: "7" },
    parallel: { type: "string", default: "2" },
    segments: { type: "boolean", default: false },
    rss: { type: "boolean", default: false },
    cpu: { type: "boolean", default: false },
  },
});
const trees = [resolve(values.a!), resolve(values.b!)];
const reps = Number(values.reps);
const dir = await Deno.makeTempDir({ prefix: "orch-ab-" });

interface One {
  us: number;
  wallMs: number;
  rssMb: number;
  segs: number[];
  /** CPU of the whole process's main thread / other threads (up to the last poll). */
  mainCpuMs: number;
  otherCpuMs: number;
}

async function once(tree: string, dag: string): Promise<One> {
  const events = `${dir}/ev-${crypto.randomUUID()}.jsonl`;
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--config",
      `${tree}/deno.json`,
      `${tree}/main.ts`,
      "run",
      "--dag",
      dag,
      "--json",
    ],
    env: {
      ORCH_EVENTS_PATH: events,
      STATE_STORE_PATH: `${dir}/state.jsonl`,
      WORKFLOWS_DIR: `${tree}/bench/workflows`,
      SCHED_MAX_PARALLEL: values.parallel!,
      NO_COLOR: "1",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let rss = 0;
  /** On-CPU ns per thread (schedstat), last seen: the main thread's tid is the pid. */
  const cpu = new Map<number, number>();
  const poll = setInterval(() => {
    if (!values.rss && !values.cpu) return;
    try {
      if (values.rss) {
        const m = /VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${child.pid}/status`));
        if (m) rss = Math.max(rss, Number(m[1]));
      }
      for (const t of values.cpu ? Deno.readDirSync(`/proc/${child.pid}/task`) : []) {
        const ns = Number(
          Deno.readTextFileSync(`/proc/${child.pid}/task/${t.name}/schedstat`).split(" ")[0],
        );
        cpu.set(Number(t.name), ns);
      }
    } catch { /* gone */ }
  }, values.cpu ? 5 : 20);
  const out = await child.output();
  clearInterval(poll);
  let others = 0;
  for (const [tid, ns] of cpu) if (tid !== child.pid) others += ns;
  const mainCpuMs = (cpu.get(child.pid) ?? 0) / 1e6;
  const wallMs = performance.now() - t0;
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr).slice(-800));
  const res = JSON.parse(new TextDecoder().decode(out.stdout));
  if (res.status !== "success") throw new Error(`run ${res.status}`);
  const lines = (await Deno.readTextFile(events)).split("\n").filter(Boolean);
  await Deno.remove(events);
  let start = 0, done = 0;
  const oks: number[] = [];
  for (const l of lines) {
    const e = JSON.parse(l);
    const t = Date.parse(e.timestamp);
    if (e.event === "dag_start") start = t;
    else if (e.event === "dag_done") done = t;
    else if (e.event === "task_ok") oks.push(t);
  }
  oks.sort((x, y) => x - y);
  const segs: number[] = [];
  let prev = start;
  for (let k = 999; k < oks.length; k += 1000) {
    segs.push(oks[k] - prev);
    prev = oks[k];
  }
  return {
    us: (done - start) * 1000 / res.tasks.length,
    wallMs,
    rssMb: rss / 1024,
    segs,
    mainCpuMs,
    otherCpuMs: others / 1e6,
  };
}

const med = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

for (const dag of values.dag ?? []) {
  const res: One[][] = [[], []];
  for (let r = 0; r <= reps; r++) {
    const order = r % 2 ? [1, 0] : [0, 1];
    for (const t of order) {
      const one = await once(trees[t], dag);
      if (r === 0) continue; // warm-up of both (code cache)
      res[t].push(one);
      console.log(
        `${dag.split("/").pop()} ${t ? "B" : "A"} ${one.us.toFixed(1)} us/task wall ${
          one.wallMs.toFixed(0)
        } cpu main ${one.mainCpuMs.toFixed(0)} other ${one.otherCpuMs.toFixed(0)}${
          values.rss ? ` rss ${one.rssMb.toFixed(0)}` : ""
        }${values.segments ? ` segs ${one.segs.join(",")}` : ""}`,
      );
    }
  }
  let won = 0;
  for (let k = 0; k < res[0].length; k++) if (res[1][k].us < res[0][k].us) won++;
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  console.log(
    `== ${dag.split("/").pop()}: A median ${med(res[0].map((x) => x.us)).toFixed(1)} B median ${
      med(res[1].map((x) => x.us)).toFixed(1)
    } us/task; B faster in ${won}/${res[0].length}; wall A ${
      med(res[0].map((x) => x.wallMs)).toFixed(0)
    } B ${med(res[1].map((x) => x.wallMs)).toFixed(0)}; main cpu A ${
      med(res[0].map((x) => x.mainCpuMs)).toFixed(0)
    } B ${med(res[1].map((x) => x.mainCpuMs)).toFixed(0)}${
      values.rss
        ? `; rss A ${med(res[0].map((x) => x.rssMb)).toFixed(0)} B ${
          med(res[1].map((x) => x.rssMb)).toFixed(0)
        }`
        : ""
    }; load ${load}`,
  );
}
await Deno.remove(dir, { recursive: true });
