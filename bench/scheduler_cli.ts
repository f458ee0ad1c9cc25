/**
 * `orch scheduler --once` through the CLI, as the crontab calls it every minute: with
 * 100 schedules none of which is due, and with the same 100 plus one due no-op DAG,
 * against a script that only imports the libraries orch imports (zod, yaml, croner).
 * Each measurement is the whole child process (start-up included), median of `reps`
 * after one warm-up. "None due" keeps its state store between runs, as cron's calls do,
 * so the next-due index answers it; "none due, full tick" and "one due, full tick" get
 * a fresh state store every run (no index; the due schedule fires every time). "One due"
 * is the minute after a recorded tick, as cron sees it: a fresh state store holding only
 * the next-due index that a full tick of the same schedules wrote in an earlier minute
 * and the inspection cache beside it (so the index's schedules and DAG, and what inspecting
 * the plugin found, are used; the due schedule fires every time). The
 * suite waits, once, for the minute after that tick (at most a minute; not in `--smoke`,
 * where a run in the tick's own minute plans all 101 schedules, still from the index).
 * @module
 */
import { fileURLToPath } from "node:url";
import { median } from "./_graph.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
const FLOOR = fileURLToPath(new URL("./imports_floor.ts", import.meta.url));
const WORKFLOWS = fileURLToPath(new URL("./workflows", import.meta.url));

/** Wall times of one scheduler case, ms. */
export interface SchedulerTimes {
  /** The script that only imports zod, yaml and croner. */
  importsMs: number;
  /** 100 schedules, none due, state kept between runs (the next-due index answers). */
  noneDueMs: number;
  /** 100 schedules, none due, a fresh state store every run (a full tick). */
  noneDueFullMs: number;
  /** The same plus one due no-op DAG, run to its end, on the next-due index's path. */
  oneDueMs: number;
  /** The same, with a fresh state store and no index (a full tick). */
  oneDueFullMs: number;
}

/**
 * @param dir A scratch directory.
 * @param reps Measured runs per case.
 * @param options `nextMinute`: wait for the minute after the recorded tick (default true).
 * @returns The median wall times.
 * @throws {Error} When a run fails or the due DAG did not run.
 */
export async function measureSchedulerOnce(
  dir: string,
  reps: number,
  options: { nextMinute?: boolean } = {},
): Promise<SchedulerTimes> {
  const dag = `${dir}/sched_noop.yaml`;
  await Deno.writeTextFile(
    dag,
    "name: sched_noop\ntenant_id: bench\ntasks:\n  - id: t1\n    workflow_ref: noop\n",
  );
  // Twelve hours away from now in UTC: never due during the measurement.
  const hour = (new Date().getUTCHours() + 12) % 24;
  const entries = Array.from(
    { length: 100 },
    (_, i) =>
      `- id: s${i}\n  cron: "${i % 60} ${hour} * * *"\n  timezone: UTC\n  dag: ${dag}\n` +
      `  tenant: bench\n`,
  );
  const none = `${dir}/sched_none`;
  const one = `${dir}/sched_one`;
  await Deno.mkdir(none, { recursive: true });
  await Deno.mkdir(one, { recursive: true });
  await Deno.writeTextFile(`${none}/schedules.yaml`, entries.join(""));
  await Deno.writeTextFile(
    `${one}/schedules.yaml`,
    entries.join("") +
      `- id: due\n  cron: "* * * * *"\n  timezone: UTC\n  dag: ${dag}\n  tenant: bench\n`,
  );
  const kept = `${dir}/sched-state-kept`;
  const recorded = `${dir}/sched-state-recorded`;
  const index = `${recorded}/state.jsonl.next_due.json`;
  const inspected = `${recorded}/state.jsonl.inspected.json`;
  const cases = {
    importsMs: () => wall(["run", "-A", "--quiet", "--config", CONFIG, FLOOR], dir),
    noneDueMs: () => scheduler(none, dir, false, { stateDir: kept }),
    noneDueFullMs: () => scheduler(none, dir, false),
    oneDueMs: () => scheduler(one, dir, true, { index, inspected }),
    oneDueFullMs: () => scheduler(one, dir, true),
  };
  // The first tick creates the state file, the second records an index that holds.
  await scheduler(none, dir, false, { stateDir: kept });
  // A full tick of the one-due schedules records their index; measured in a later minute.
  const tickMinute = Math.floor(Date.now() / 60_000);
  await scheduler(one, dir, true, { stateDir: recorded });
  const wait = (tickMinute + 1) * 60_000 - Date.now() + 200;
  if (wait > 0 && options.nextMinute !== false) await new Promise((r) => setTimeout(r, wait));
  const times: Record<keyof SchedulerTimes, number[]> = {
    importsMs: [],
    noneDueMs: [],
    noneDueFullMs: [],
    oneDueMs: [],
    oneDueFullMs: [],
  };
  for (let r = 0; r <= reps; r++) {
    for (const k of Object.keys(cases) as (keyof SchedulerTimes)[]) {
      const ms = await cases[k]();
      if (r > 0) times[k].push(ms);
    }
  }
  for (const d of [kept, recorded]) await Deno.remove(d, { recursive: true }).catch(() => {});
  return {
    importsMs: median(times.importsMs),
    noneDueMs: median(times.noneDueMs),
    noneDueFullMs: median(times.noneDueFullMs),
    oneDueMs: median(times.oneDueMs),
    oneDueFullMs: median(times.oneDueFullMs),
  };
}

/**
 * One `scheduler --once` process, timed.
 * @param options `stateDir` to keep (default a fresh one, removed after), `index` and
 *   `inspected` (the next-due index and the inspection cache) to copy into the fresh one
 *   before the run (not timed).
 */
async function scheduler(
  schedules: string,
  dir: string,
  due: boolean,
  options: { stateDir?: string; index?: string; inspected?: string } = {},
): Promise<number> {
  const run = crypto.randomUUID();
  const events = `${dir}/sched-events-${run}.jsonl`;
  const { stateDir } = options;
  const state = stateDir ?? `${dir}/sched-state-${run}`;
  if (options.index) {
    await Deno.mkdir(state, { recursive: true });
    await Deno.copyFile(options.index, `${state}/state.jsonl.next_due.json`);
  }
  if (options.inspected) {
    await Deno.copyFile(options.inspected, `${state}/state.jsonl.inspected.json`);
  }
  const ms = await wall(
    ["run", "-A", "--quiet", "--config", CONFIG, MAIN, "scheduler", "--dir", schedules, "--once"],
    dir,
    {
      ORCH_EVENTS_PATH: events,
      STATE_STORE_PATH: `${state}/state.jsonl`,
      WORKFLOWS_DIR: WORKFLOWS,
      SCHED_MAX_PARALLEL: "2",
    },
  );
  let text = "";
  try {
    text = await Deno.readTextFile(events);
    await Deno.remove(events);
  } catch { /* no run, no events file */ }
  if (!stateDir) await Deno.remove(state, { recursive: true }).catch(() => {});
  const ran = text.includes('"event":"dag_done"');
  if (ran !== due) throw new Error(`scheduler --once: expected ${due ? "a run" : "no run"}`);
  return ms;
}

async function wall(args: string[], cwd: string, env: Record<string, string> = {}) {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).slice(-500);
    throw new Error(`${args.at(-1)} exited ${out.code}: ${err}`);
  }
  return ms;
}
