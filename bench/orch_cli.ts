/**
 * Runs orch the way users do, through its CLI in a child process
 * (`deno run -A main.ts run --dag X --json`), and measures one run: execution time from
 * the run's own events (dag_start..dag_done), whole-process wall time and peak RSS
 * (VmHWM of the child, polled from /proc). Checks that every task succeeded and
 * reported the depth it can only know if its upstream outputs reached it.
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import type { Graph } from "./_graph.ts";
import { verifyDepths } from "./_graph.ts";

const MAIN = fromFileUrl(new URL("../main.ts", import.meta.url));
const CONFIG = fromFileUrl(new URL("../deno.json", import.meta.url));
const WORKFLOWS = fromFileUrl(new URL("./workflows", import.meta.url));

/** One measured CLI run. */
export interface CliRun {
  /** dag_start..dag_done from the events file, ms. */
  execMs: number;
  /** Whole process, ms. */
  wallMs: number;
  /** Peak resident set of the child in KiB (0 where /proc is unavailable). */
  peakRssKb: number;
}

/**
 * @param yamlPath The DAG file.
 * @param g Its index form, to verify outputs.
 * @param options `maxParallel` (SCHED_MAX_PARALLEL), `dir` for the events file.
 * @returns The measurements.
 * @throws {Error} When the run fails or outputs are wrong.
 */
export async function runOrchCli(
  yamlPath: string,
  g: Graph,
  options: { maxParallel: number; dir: string },
): Promise<CliRun> {
  const events = `${options.dir}/events-${crypto.randomUUID()}.jsonl`;
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", CONFIG, MAIN, "run", "--dag", yamlPath, "--json"],
    env: {
      ORCH_EVENTS_PATH: events,
      STATE_STORE_PATH: `${options.dir}/state.jsonl`,
      WORKFLOWS_DIR: WORKFLOWS,
      SCHED_MAX_PARALLEL: String(options.maxParallel),
      NO_COLOR: "1",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let peakRssKb = 0;
  const poll = setInterval(() => peakRssKb = Math.max(peakRssKb, vmHwmKb(child.pid)), 5);
  let out: Deno.CommandOutput;
  try {
    out = await child.output();
  } finally {
    clearInterval(poll);
  }
  const wallMs = performance.now() - t0;
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(`orch exited ${out.code}: ${dec.decode(out.stderr).slice(-500)}`);
  }
  const result = JSON.parse(dec.decode(out.stdout)) as {
    status: string;
    tasks: { id: string; status: string; output?: { depth?: number } }[];
  };
  if (result.status !== "success") throw new Error(`Run ended ${result.status}`);
  const byId = new Map(result.tasks.map((t) => [t.id, t]));
  verifyDepths(g, (i) => byId.get(g.ids[i])?.output?.depth);
  const lines = (await Deno.readTextFile(events)).split("\n").filter(Boolean);
  await Deno.remove(events);
  const parsed = lines.map((l) => JSON.parse(l) as { event: string; timestamp: string });
  const start = parsed.find((e) => e.event === "dag_start");
  const done = parsed.find((e) => e.event === "dag_done");
  if (!start || !done) throw new Error("Events file lacks dag_start or dag_done");
  const execMs = Math.max(Date.parse(done.timestamp) - Date.parse(start.timestamp), 0.5);
  return { execMs, wallMs, peakRssKb };
}

function vmHwmKb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
