import { prepareRun } from "../../run/prepare.ts";
import { runDag } from "../../run/run_dag.ts";
import { Scheduler, type TickReport } from "../../schedule/scheduler.ts";
import { knownAfterTick } from "../../schedule/known_fires.ts";
import { parsedDag, readNextDue, recordTick, snapshotSetup } from "../../schedule/next_due.ts";
import type { LaunchRun } from "../../schedule/run_queue.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import type { JsonObject } from "../../workflows/types.ts";
import type { Store } from "../../store/store.ts";
import type { PostgresStore } from "../../store/postgres/store.ts";
import type { LeaderElection } from "../../store/postgres/leader.ts";
import { loadValidSchedules, onStopSignals, runDeps } from "./_scheduling.ts";
import { isDistributed, submitToCluster } from "./_cluster.ts";
import { onceSetup, takeQuickRead } from "./_scheduler_quiet.ts";
import { schedulerReaper } from "./_scheduler_reaper.ts";
import { stoppedChild, SUPERVISOR_ENV, watchSupervisor } from "./_supervisor.ts";
import { continueMemoryStoppedRuns } from "../../run/continue.ts";
import { InspectionCache } from "../../workflows/inspection_cache.ts";
import { VERSION } from "../version.ts";
import { traceStep } from "../startup_trace.ts";

export const SCHEDULER_HELP = `Usage: orch scheduler --dir DIR (--once | --serve)

Runs the DAGs of the schedules in DIR (*.yaml, each a list of {id, cron, dag, tenant, ...})
when their cron matches. Each schedule-minute runs exactly once, however many schedulers
run on this machine (JSONL: decided under the state file's lock) or on any host sharing
one PostgreSQL store (--store / ORCH_STORE: a UNIQUE constraint per schedule-minute).
With a PostgreSQL store, --serve processes elect one leader and only the leader ticks
(its writes fenced by its epoch); the others take over when it goes. On PostgreSQL the
leader (every ORCH_WORKER_LOST_MS / 2) and each --once tick also fail attempts of workers
silent past ORCH_WORKER_LOST_MS as worker_lost, so distributed runs end without a worker.

Options:
  --dir DIR   Directory of schedule files (required)
  --once      One tick at the current minute, then wait for its runs (for the system crontab)
  --serve     Tick every SCHED_TICK_MS until SIGINT/SIGTERM (for systemd). A small supervisor
              runs the serving loop in a child, forwards the signals, and restarts it after
              a memory incident (exit 5), at most 5 times in 60 s; the new child continues
              the runs the incident ended, once each (ORCH_SERVE_SUPERVISOR=0: no supervisor)
  --store URL PostgreSQL store (default ORCH_STORE, else the JSONL files)
  -h, --help  Show this help

Exit codes: 0 every run succeeded or nothing was due (and --serve stopped by a signal),
1 a run failed or was cancelled, 2 invalid schedules, DAGs or usage, 4 internal error,
5 stopped after a memory incident (--serve: 6 of them within 60 s).
Environment: ORCH_STORE, STATE_STORE_PATH, ORCH_EVENTS_PATH, WORKFLOWS_DIR, SCHED_TICK_MS,
SCHED_MAX_PARALLEL (runs at once and pool size), ORCH_SHUTDOWN_GRACE_MS (default 10000),
ORCH_WORKER_LOST_MS (default 10000),
ORCH_EXECUTION=distributed (PostgreSQL store: due runs are submitted to the cluster, where
'orch worker's run them, instead of running here; the scheduler does not wait for them).
`;

/**
 * `orch scheduler`: `--once` (one tick, then drain) or `--serve` (tick until a signal).
 * @param ctx The app context.
 * @param args Arguments after `scheduler`.
 * @returns The exit code.
 */
export async function schedulerCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("scheduler", args, {
    dir: { type: "string" },
    once: { type: "boolean" },
    serve: { type: "boolean" },
  });
  if (values.help) {
    ctx.io.stdout(SCHEDULER_HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument "${positionals[0]}"`, "scheduler");
  }
  if (!values.once === !values.serve) {
    throw new UsageError("Give exactly one of --once or --serve", "scheduler");
  }
  // Snapshot what a --once tick depends on before reading it (see next_due.ts); while
  // nothing changed, the schedules recorded by the last tick are used as they are.
  const quiet = values.once ? onceSetup(ctx.io, args, ctx.config, ctx.storeConfig) : null;
  const now = ctx.clock.now();
  const index = quiet &&
    (takeQuickRead(quiet, now) ?? await readNextDue(quiet, now).catch(() => null));
  const snapshot = index?.snapshot ?? (quiet && await snapshotSetup(quiet).catch(() => null));
  const known = index?.known ?? null;
  // What inspecting the plugins found, kept beside the state store: a due run from the
  // index starts without waiting for a worker to inspect its workflows first.
  const inspected = quiet
    ? await InspectionCache.load(`${ctx.config.paths.statePath}.inspected.json`, VERSION)
    : undefined;
  const { schedules, dagNames } = known ??
    await loadValidSchedules(ctx, values.dir as string | undefined, "scheduler", inspected);
  traceStep(known ? "schedules taken from the next-due index" : "schedules loaded");
  const deps = await runDeps(ctx);
  const { backend, events, pool } = deps;
  await events.open();
  const registry = await ctx.registry();
  traceStep("store opened, workflows scanned");
  const notice = (line: string) => ctx.io.stderr(`${ctx.clock.now().toISOString()} ${line}\n`);
  const distributed = isDistributed(ctx, false, "scheduler");
  const launch: LaunchRun = async (run, signal) => {
    if (distributed) {
      // Detached: the cluster runs it; "success" here means it was submitted.
      const prepared = await prepareRun(run.dagPath, { registry, pool });
      await submitToCluster(ctx, prepared, {
        runId: run.runId,
        trigger: "schedule",
        scheduleId: run.scheduleId,
        minute: run.minute,
        runParams: run.params as JsonObject,
      });
      notice(`submitted run ${run.runId} of ${run.scheduleId} to the cluster`);
      return "success";
    }
    // A DAG kept parsed by the index needs no YAML parser (nor its import).
    const dag = known && await parsedDag(known, run.dagPath);
    traceStep(`run ${run.runId} launched`);
    const prepared = await prepareRun(dag || run.dagPath, { registry, pool, inspected });
    traceStep(`run ${run.runId} prepared`);
    const result = await runDag(prepared, deps, {
      runId: run.runId,
      trigger: "schedule",
      scheduleId: run.scheduleId,
      minute: run.minute,
      runParams: run.params as JsonObject,
      signal,
      lock: run.lock,
    });
    traceStep(`run ${run.runId} ${result.status}`);
    return result.status;
  };
  const election = values.serve ? await electLeader(backend, notice) : null;
  const reaper = await schedulerReaper(ctx, backend, { election, notice });
  const scheduler = new Scheduler({
    store: backend.state,
    backend,
    schedules,
    clock: ctx.clock,
    sleep: ctx.sleep,
    launch,
    maxParallel: ctx.config.maxParallel,
    dagNames,
    known: known?.fires,
    onNotice: notice,
    leadership: election
      ? {
        isLeader: () => election.isLeader(),
        tickStore: (backend as PostgresStore).fenced(election),
      }
      : undefined,
  });
  /** Records this tick in the next-due index (only a cache: a failure is ignored). */
  const recordIndex = async (report: TickReport) => {
    traceStep(`tick decided: ${report.enqueued.length} enqueued`);
    if (!quiet || !snapshot) return;
    try {
      const fires = knownAfterTick(schedules, report.at, known?.fires);
      await recordTick(quiet, snapshot, {
        // The full path has the DAG loader loaded; the index path keeps what it had.
        ...(known ? { keep: known } : { parseDag: (await import("../../dag/load.ts")).parseDag }),
        at: report.at,
        quiet: isQuiet(report),
        schedules: schedules.map((schedule) => ({
          schedule,
          dagName: dagNames.get(schedule.id) ?? schedule.dag,
          next: fires.next.get(schedule.id) ?? null,
        })),
      });
    } catch {
      // Next minute takes the full path.
    }
  };
  const stop = new AbortController();
  const removeSignals = onStopSignals((sig) => {
    ctx.io.stderr(`Received ${sig}: stopping the scheduler\n`);
    stop.abort(`Scheduler stopped by ${sig}`);
    // Hand leadership over at once; runs in progress get the grace period.
    election?.stop();
  });
  const graceMs = ctx.config.shutdownGraceMs;
  try {
    if (values.once) {
      await reaper?.reapOnce(); // before the tick: overlap policies see runs it ended
      // The index is recorded while the runs run: it does not depend on how they end.
      const report = await scheduler.runOnce({ stop: stop.signal, graceMs, onTick: recordIndex });
      if (report.enqueued.length === 0) ctx.io.stderr("Nothing due\n");
    } else {
      const n = schedules.length;
      ctx.io.stderr(`Serving ${n} schedule${n === 1 ? "" : "s"}, tick ${ctx.config.tickMs} ms\n`);
      reaper?.start(); // reaps only while this scheduler leads
      // Supervised (_supervisor.ts): end with the supervisor; after a memory stop, continue.
      const supervised = ctx.io.env[SUPERVISOR_ENV] === "child";
      if (supervised) {
        watchSupervisor(() => {
          notice("the supervisor is gone: exiting at once, as if killed with it");
          Deno.exit(1);
        });
      }
      const stopped = supervised && !distributed ? stoppedChild(ctx.io.env) : null;
      const continued = stopped && continueMemoryStoppedRuns(stopped, {
        ...deps,
        taskEvents: backend.taskEvents,
      }, { registry, signal: stop.signal, notice, sleep: ctx.sleep });
      await scheduler.serve({ tickMs: ctx.config.tickMs, stop: stop.signal, graceMs });
      await continued;
      return 0;
    }
  } finally {
    removeSignals();
    await inspected?.save();
    await reaper?.stop();
    await election?.stop();
  }
  const bad = scheduler.outcomes.filter((o) => o.status !== "success");
  return bad.length > 0 ? 1 : 0;
}

/**
 * @param report A tick's report.
 * @returns Whether the tick had nothing to do: nothing enqueued, skipped or recovered,
 *   and no run unfinished (so the next-due index may record it).
 */
function isQuiet(report: TickReport): boolean {
  return report.enqueued.length === 0 && report.skipped.length === 0 &&
    report.recovered.length === 0 && report.unfinished === 0;
}

/**
 * `--serve` on PostgreSQL: campaigns for the scheduler leadership in the background.
 * @param backend The store.
 * @param notice Receives leadership changes.
 * @returns The election, or null on JSONL (one machine: every `--serve` ticks under
 *   the state file's lock).
 */
async function electLeader(
  backend: Store,
  notice: (line: string) => void,
): Promise<LeaderElection | null> {
  if (backend.kind !== "postgres") return null;
  const { LeaderElection } = await import("../../store/postgres/leader.ts");
  const election = new LeaderElection((backend as PostgresStore).config, {
    applicationName: "orch scheduler leader",
    onAcquired: (epoch) => notice(`leader: this scheduler leads (epoch ${epoch}) and ticks`),
    onLost: (reason) =>
      notice(`leader: leadership lost (${reason}); ticking stops, runs in progress finish`),
  });
  notice("leader: campaigning; this scheduler ticks only while it leads");
  election.start();
  return election;
}
