/**
 * Fault injection: SIGKILL `orch scheduler --once` and `--serve` at random points (start-up,
 * inside the tick, while runs wait for a slot, during a task, between events, during a
 * large append), FAULT_KILLS times each (default 30), with a printed, replayable seed
 * (FAULT_SEED; the kill delays replay, the machine's timing does not). FAULT_KEEP=1 keeps
 * the files of a failed run.
 *
 * Each iteration gets its own schedules (cron `* * * * *`, so no clock needs faking) in
 * one shared state file; the two loops run side by side on that file, as a crontab
 * `--once` and a systemd `--serve` would by mistake. After each kill a `--once` over the
 * same schedules (sometimes preceded by `orch runs`) is "the next tick". Then:
 * - every line of both logs parses;
 * - every enqueued or started run has exactly one `run_finished`; those the killed
 *   process did not finish are `interrupted`, every other one ended normally;
 * - each {schedule_id, minute_utc} is decided once, and the decided minutes of each
 *   schedule are contiguous up to its watermark (the follow-up's minute): a minute the
 *   killed process enqueued is not enqueued again, and none is skipped across a minute
 *   boundary.
 *
 * On PostgreSQL (ORCH_TEST_BACKEND=postgres, `deno task test:faults:pg`; FAULT_KILLS
 * default 10) the same loops run on one schema: decisions in `schedule_minutes`, the
 * watermarks table, leader election among the `--serve` processes; the file-only checks
 * (torn tails, lock and temp files) have nothing to look at there.
 */
import assert from "node:assert/strict";
import {
  orch,
  readEvents as readTaskEvents,
  readState as readStateEvents,
  REPO,
  type Sandbox,
  sandbox,
} from "../helpers/cli.ts";
import { BACKEND, ON_PG, withSql } from "../helpers/backend.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";
import { STALE_LOCK_MS } from "../../src/run/mod.ts";
import {
  checkEventLog,
  checkStateInvariants,
  FAULT_SEED,
  faultKills,
  hasTornTail,
  type Line,
  percentiles,
  seeded,
  strictJsonl,
} from "./_fault.ts";

const KILLS = faultKills(ON_PG ? 10 : 30);
const PER_ITERATION = 3;
const MINUTE = 60_000;

type Mode = "once" | "serve";

/** Where a kill landed, judged from the logs afterwards. */
type Phase =
  | "exited before kill"
  | "before the tick committed"
  | "runs enqueued, none started"
  | "during a task"
  | "between events"
  | "after its runs finished";

interface LoopReport {
  mode: Mode;
  killed: number;
  phases: Map<Phase, number>;
  tornTails: number;
  interrupted: number;
  /** Iterations stopped by SIGTERM, then SIGKILL mid-shutdown. */
  terms: number;
  delays: number[];
  iterationMs: number[];
  /** How long an unkilled `--once` took (see {@link calibrate}). */
  lifeMs: number;
}

function env(sb: Sandbox): Record<string, string> {
  return {
    ...sb.env,
    WORKFLOWS_DIR: FIXTURE_WORKFLOWS,
    NO_COLOR: "1",
    RUST_BACKTRACE: "0",
    SCHED_MAX_PARALLEL: "2",
    SCHED_TICK_MS: "100",
    // Kills the serving process itself (its pid is in the events): no supervisor.
    ORCH_SERVE_SUPERVISOR: "0",
    ORCH_SHUTDOWN_GRACE_MS: "1000",
  };
}

function spawn(sb: Sandbox, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", `${REPO}/deno.json`, `${REPO}/main.ts`, ...args],
    cwd: sb.dir,
    env: env(sb),
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** A DAG of about 0.4 s: sleeps, log lines and two 256 KiB outputs (long appends). */
function faultDag(): string {
  return dagYaml("fault", [
    { id: "t0", workflow_ref: "sleep", params: { ms: 40 } },
    { id: "t1", workflow_ref: "fault_blob", params: { kb: 256 }, depends_on: ["t0"] },
    { id: "t2", workflow_ref: "logger", depends_on: ["t1"] },
    { id: "t3", workflow_ref: "sleep", params: { ms: 40 }, depends_on: ["t2"] },
    { id: "t4", workflow_ref: "echo", params: { pad: "e".repeat(2000) }, depends_on: ["t3"] },
    { id: "u0", workflow_ref: "sleep", params: { ms: 60 } },
    { id: "u1", workflow_ref: "fault_blob", params: { kb: 256 }, depends_on: ["u0"] },
    { id: "u2", workflow_ref: "sleep", params: { ms: 40 }, depends_on: ["u1"] },
    { id: "u3", workflow_ref: "logger", depends_on: ["u2"] },
    { id: "u4", workflow_ref: "sleep", params: { ms: 60 }, depends_on: ["u3"] },
    { id: "z", workflow_ref: "echo", depends_on: ["t4", "u4"] },
  ]);
}

async function writeSchedules(sb: Sandbox, dir: string, ids: string[]): Promise<void> {
  const lines = ids.map((id) =>
    `- ${
      JSON.stringify({
        id,
        cron: "* * * * *",
        dag: "dags/fault.yaml",
        tenant: "t",
        timezone: "UTC",
      })
    }`
  );
  await sb.write(`${dir}/s.yaml`, lines.join("\n") + "\n");
}

async function watermarks(sb: Sandbox): Promise<Record<string, string>> {
  if (sb.store) {
    const rows = await withSql(sb.store, (sql) =>
      sql<{ schedule_id: string; last_tick: Date }[]>`
        select schedule_id, last_tick from watermarks`);
    return Object.fromEntries(rows.map((r) => [r.schedule_id, r.last_tick.toISOString()]));
  }
  try {
    return JSON.parse(await Deno.readTextFile(`${sb.state}.watermarks.json`)).watermarks;
  } catch {
    return {};
  }
}

/** Judges where the kill of process `pid` landed from what it left in the logs. */
function phaseOf(pid: number, state: Line[], events: Line[]): Phase {
  const mine = state.filter((e) => e.pid === pid);
  if (!mine.some((e) => e.event === "schedule_enqueued")) return "before the tick committed";
  const runIds = new Set(mine.map((e) => String(e.run_id)));
  const finishedBySelf = new Set(
    state.filter((e) => e.event === "run_finished" && runIds.has(String(e.run_id)))
      .map((e) => String(e.run_id)),
  );
  if (![...runIds].some((id) => !finishedBySelf.has(id))) return "after its runs finished";
  if (!mine.some((e) => e.event === "run_started")) return "runs enqueued, none started";
  const open = new Set<string>();
  for (const e of events) {
    if (!runIds.has(String(e.run_id))) continue;
    const key = `${e.run_id} ${e.task_id} ${e.attempt}`;
    if (e.event === "task_start") open.add(key);
    if (e.event === "task_ok" || e.event === "task_fail") open.delete(key);
  }
  return open.size > 0 ? "during a task" : "between events";
}

/**
 * Checks the schedules of one iteration after its follow-up tick: decided minutes are
 * unique and contiguous, end at the watermark, and the killed process's minutes were not
 * enqueued again.
 */
function checkMinutes(ids: string[], state: Line[], marks: Record<string, string>): void {
  for (const id of ids) {
    const decided = state.filter((e) =>
      e.schedule_id === id && (e.event === "schedule_enqueued" || e.event === "schedule_skipped")
    ).map((e) => Date.parse(String(e.minute_utc))).sort((a, b) => a - b);
    assert.ok(decided.length > 0, `schedule ${id}: no minute decided after the follow-up tick`);
    assert.equal(new Set(decided).size, decided.length, `schedule ${id}: a minute decided twice`);
    for (let i = 1; i < decided.length; i++) {
      assert.equal(decided[i] - decided[i - 1], MINUTE, `schedule ${id}: a minute was skipped`);
    }
    assert.equal(
      new Date(decided.at(-1)!).toISOString(),
      marks[id],
      `schedule ${id}: the last decided minute is not the watermark`,
    );
  }
}

/**
 * How long an unkilled `--once` over fresh schedules takes (start-up, tick, runs), so
 * kill delays can cover a scheduler's busy life on this machine, under this load.
 */
async function calibrate(sb: Sandbox, mode: Mode): Promise<number> {
  const dir = `sched/${mode}_calibration`;
  await writeSchedules(sb, dir, [0, 1, 2].map((k) => `${mode}_calibration_${k}`));
  const t0 = performance.now();
  const status = await spawn(sb, ["scheduler", "--dir", dir, "--once"]).status;
  assert.equal(status.code, 0, "calibration --once failed");
  return performance.now() - t0;
}

async function killLoop(sb: Sandbox, mode: Mode, random: () => number): Promise<LoopReport> {
  const report: LoopReport = {
    mode,
    killed: 0,
    phases: new Map(),
    tornTails: 0,
    interrupted: 0,
    terms: 0,
    delays: [],
    iterationMs: [],
    lifeMs: await calibrate(sb, mode),
  };
  // Kills over 15-100 % of a --once life (--serve idles after its runs: some land there).
  // The --once estimate follows the machine: halfway to each observed exit, +3 % per kill.
  let life = report.lifeMs;
  for (let i = 0; i < KILLS; i++) {
    const t0 = performance.now();
    const dir = `sched/${mode}${i}`;
    const ids = Array.from({ length: PER_ITERATION }, (_, k) => `${mode}${i}_${k}`);
    await writeSchedules(sb, dir, ids);
    const child = spawn(sb, ["scheduler", "--dir", dir, `--${mode}`]);
    const delay = Math.floor(life * (0.15 + random() * (mode === "once" ? 0.85 : 0.9)));
    report.delays.push(delay);
    // Every fourth --serve is stopped as systemd does when the stop times out: SIGTERM,
    // then SIGKILL during the shutdown (0-300 ms later).
    const term = mode === "serve" && i % 4 === 3;
    const termAfter = term ? Math.floor(random() * 300) : 0;
    if (term) report.terms++;
    const timers = [
      setTimeout(() => signal(child, term ? "SIGTERM" : "SIGKILL"), delay),
      setTimeout(() => signal(child, "SIGKILL"), delay + termAfter),
    ];
    const status = await child.status;
    timers.forEach(clearTimeout);
    const killed = status.signal === "SIGKILL";
    if (mode === "once") life = killed ? life * 1.03 : (life + (performance.now() - t0)) / 2;
    if (killed) report.killed++;
    if (await hasTornTail(sb.state)) report.tornTails++;
    if (await hasTornTail(sb.events)) report.tornTails++;
    const phase: Phase = killed
      ? phaseOf(child.pid, await readState(sb), await readEvents(sb))
      : "exited before kill";
    report.phases.set(phase, (report.phases.get(phase) ?? 0) + 1);
    const how = term
      ? `SIGTERM after ${delay} ms, SIGKILL ${termAfter} ms later`
      : `kill after ${delay} ms`;
    const where = `${mode} iteration ${i} (seed ${FAULT_SEED}, ${how}, ${phase})`;
    if (i % 3 === 2) {
      const runs = await orch(["runs", "--json", "--limit", "5"], { cwd: sb.dir, env: env(sb) });
      assert.equal(runs.code, 0, `${where}: orch runs: ${runs.stderr}`);
    }
    const next = await orch(["scheduler", "--dir", dir, "--once"], { cwd: sb.dir, env: env(sb) });
    assert.equal(next.code, 0, `${where}: follow-up --once: ${next.stderr}`);
    // The other loop shares the file and may be mid-run: check this iteration's schedules.
    const state = (await readState(sb)).filter((e) => ids.includes(String(e.schedule_id)));
    let finished: Map<string, Line>;
    try {
      finished = checkStateInvariants(state);
      checkMinutes(ids, state, await watermarks(sb));
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
    }
    for (const e of state) {
      if (e.pid !== child.pid || e.event !== "run_started") continue;
      const end = finished.get(String(e.run_id))!;
      if (end.status === "interrupted") report.interrupted++;
      else {
        const ok = term ? ["success", "cancelled"] : ["success"];
        assert.ok(ok.includes(String(end.status)), `${where}: run ${e.run_id} ${end.status}`);
      }
    }
    for (const e of state) {
      if (e.event !== "run_finished" || e.status !== "interrupted") continue;
      const enq = state.find((x) => x.event === "schedule_enqueued" && x.run_id === e.run_id);
      assert.equal(enq?.pid, child.pid, `${where}: a run of a live process was interrupted`);
    }
    report.iterationMs.push(performance.now() - t0);
  }
  return report;
}

function signal(child: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    child.kill(sig);
  } catch { /* already exited */ }
}

async function readState(sb: Sandbox): Promise<Line[]> {
  return sb.store ? await readStateEvents(sb) : await strictJsonl(sb.state);
}

async function readEvents(sb: Sandbox): Promise<Line[]> {
  return sb.store ? await readTaskEvents(sb) : await strictJsonl(sb.events);
}

/**
 * Lock files left in `runs/` once every run is finished, split by age: recovery removes
 * the unheld ones older than STALE_LOCK_MS (a tick killed before its commit leaves some).
 */
async function leftoverLocks(sb: Sandbox): Promise<{ old: string[]; young: number }> {
  const out = { old: [] as string[], young: 0 };
  try {
    for await (const f of Deno.readDir(`${sb.dir}/logs/runs`)) {
      const { mtime } = await Deno.stat(`${sb.dir}/logs/runs/${f.name}`);
      if (Date.now() - (mtime?.getTime() ?? 0) > STALE_LOCK_MS) out.old.push(f.name);
      else out.young++;
    }
  } catch { /* no runs directory */ }
  return out;
}

/** Watermark temp files left by a process killed while saving them. */
async function leftoverTemps(sb: Sandbox): Promise<number> {
  let n = 0;
  try {
    for await (const f of Deno.readDir(`${sb.dir}/logs`)) if (f.name.includes(".tmp-")) n++;
  } catch { /* no logs directory (PostgreSQL) */ }
  return n;
}

function summary(r: LoopReport): string {
  const phases = [...r.phases].map(([p, n]) => `${p}: ${n}`).join(", ");
  const it = percentiles(r.iterationMs);
  const d = percentiles(r.delays);
  return `--${r.mode}: unkilled --once life ${Math.round(r.lifeMs)} ms, kill delays ` +
    `p50 ${d.p50} ms max ${d.max} ms; ${r.killed}/${KILLS} killed (${phases}); ${r.interrupted} runs ` +
    `recovered as interrupted; ${r.terms} stopped by SIGTERM then SIGKILL; ` +
    `torn tails seen: ${r.tornTails}; iteration p50 ${it.p50} ms`;
}

Deno.test(
  `SIGKILL of scheduler --once and --serve at ${KILLS} random points each: nothing lost, run twice or skipped (seed ${FAULT_SEED}, ${BACKEND})`,
  async () => {
    const sb = await sandbox();
    const started = performance.now();
    try {
      await sb.write("dags/fault.yaml", faultDag());
      // The two loops share the state file and run side by side.
      const [once, serve] = await Promise.all([
        killLoop(sb, "once", seeded(FAULT_SEED)),
        killLoop(sb, "serve", seeded(FAULT_SEED + 1)),
      ]);
      const runs = await orch(["runs", "--json", "--limit", "1000"], {
        cwd: sb.dir,
        env: env(sb),
      });
      assert.equal(runs.code, 0, runs.stderr);
      const rows = JSON.parse(runs.stdout) as Line[];
      const open = rows.filter((r) => r.status === "running" || r.status === "queued");
      assert.deepEqual(open, [], "runs left running or queued");
      const state = await readState(sb);
      checkStateInvariants(state);
      checkEventLog(await readEvents(sb));
      const locks = await leftoverLocks(sb);
      assert.deepEqual(locks.old, [], "stale run lock files left behind");
      const temps = await leftoverTemps(sb);
      assert.ok(once.killed + serve.killed >= KILLS, `only ${once.killed + serve.killed} kills`);
      const s = ((performance.now() - started) / 1000).toFixed(1);
      console.log(
        `${summary(once)}\n${summary(serve)}\n${state.length} state lines, ` +
          `${temps} watermark temp files and ${locks.young} lock files younger than ` +
          `${STALE_LOCK_MS} ms left, ${s} s`,
      );
    } catch (err) {
      if (Deno.env.get("FAULT_KEEP")) console.error(`Kept the files in ${sb.dir}`);
      throw err;
    } finally {
      if (!Deno.env.get("FAULT_KEEP")) await sb.cleanup();
    }
  },
);
