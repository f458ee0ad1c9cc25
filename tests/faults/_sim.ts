/**
 * A scheduler over simulated time, for the exactly-once load tests: the real
 * {@link Scheduler}, its own {@link StateStore} handle on a shared state file (flock is
 * per open file, so two handles in one process exclude each other as two processes do),
 * the real `runDag` on an in-process pool, and an injected clock. Used in process by
 * `load_test.ts` and by `_sim_child.ts` in child processes.
 */
import { Cron } from "croner";
import {
  type Clock,
  EventLog,
  InlinePool,
  parseDag,
  prepareRun,
  runDag,
  type Schedule,
  Scheduler,
  StateStore,
  WorkflowRegistry,
} from "../../mod.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";

/** Simulated start: 09:55:05 UTC, so ten minutes cross an hour (`0 * * * *` fires once). */
export const SIM_START = new Date("2026-05-01T09:55:05Z");
/** Simulated end: ten minutes later. */
export const SIM_END = new Date(SIM_START.getTime() + 10 * 60_000);

function schedule(id: string, cron: string, more: Partial<Schedule> = {}): Schedule {
  return {
    id,
    cron,
    dag: "sim.yaml",
    dagPath: "/sim.yaml",
    tenant: "t",
    enabled: true,
    timezone: "UTC",
    params: {},
    overlap: "allow",
    catchupWindowMs: null,
    source: { file: "sim.yaml", line: 1, column: 1 },
    ...more,
  };
}

/** The simulated schedules: every minute, steps, a range, the hour, another time zone. */
export const SIM_SCHEDULES: readonly Schedule[] = [
  ...Array.from({ length: 6 }, (_, i) => schedule(`every_${i}`, "* * * * *")),
  schedule("step_2", "*/2 * * * *"),
  schedule("step_3", "*/3 * * * *"),
  schedule("range", "1-59/5 * * * *"),
  schedule("hourly", "0 * * * *"),
  schedule("new_york", "* * * * *", { timezone: "America/New_York" }),
  schedule("kolkata", "*/2 * * * *", { timezone: "Asia/Kolkata" }),
];

/**
 * The fire times of a schedule in [from, to] (whole minutes), the oracle of the tests.
 * @param s The schedule.
 * @param from First instant.
 * @param to Last instant.
 * @returns ISO minutes.
 */
export function fireMinutes(s: Schedule, from: Date, to: Date): string[] {
  const cron = new Cron(s.cron, { timezone: s.timezone, paused: true });
  const out: string[] = [];
  let at = cron.nextRun(new Date(Math.floor(from.getTime() / 60_000) * 60_000 - 1));
  while (at && at.getTime() <= to.getTime()) {
    out.push(at.toISOString());
    at = cron.nextRun(at);
  }
  return out;
}

/** A simulated scheduler and how to stop it. */
export interface SimScheduler {
  scheduler: Scheduler;
  /** Waits for its runs, then closes the pool and the event log. */
  close(): Promise<void>;
}

/**
 * Builds one scheduler over the shared files with its own store handle and clock.
 * @param paths The state file and the event log.
 * @param clock Its clock (stamps, runs and default tick instant).
 * @returns The scheduler.
 */
export async function simScheduler(
  paths: { state: string; events: string },
  clock: Clock,
): Promise<SimScheduler> {
  const store = new StateStore(paths.state, { clock });
  const pool = new InlinePool({ size: 2 });
  const events = new EventLog(paths.events);
  const registry = await WorkflowRegistry.scan(FIXTURE_WORKFLOWS, []);
  const dag = parseDag(dagYaml("sim", [{ id: "a", workflow_ref: "echo", params: { x: 1 } }]));
  const prepared = await prepareRun(dag, { registry, pool });
  const scheduler = new Scheduler({
    store,
    schedules: SIM_SCHEDULES,
    clock,
    sleep: () => Promise.resolve(),
    maxParallel: 3,
    eventsPath: paths.events,
    launch: async (run, signal) => {
      const deps = { pool, events, store, clock, sleep: () => Promise.resolve() };
      const opts = { runId: run.runId, scheduleId: run.scheduleId, lock: run.lock, signal };
      return (await runDag(prepared, deps, { ...opts, trigger: "schedule" })).status;
    },
  });
  return {
    scheduler,
    async close() {
      await scheduler.drain();
      await pool.close();
      await events.close();
    },
  };
}
