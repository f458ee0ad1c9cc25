import { resolve } from "node:path";
import { OrchestratorError } from "../../lib/errors.ts";
import { prepareRun } from "../../run/prepare.ts";
import type { RunDagDeps } from "../../run/run_dag.ts";
import type { EventLogLike, Store } from "../../store/store.ts";
import type { Schedule } from "../../schedule/schema.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import { VERSION } from "../version.ts";
import type { InspectionCache } from "../../workflows/inspection_cache.ts";

/**
 * What a run needs of the context besides the DAG: pool, event log, state store and
 * liveness of the chosen backend, clock and sleep.
 * @param ctx The app context.
 * @returns The `runDag` dependencies.
 * @throws {StoreUnavailableError} When the PostgreSQL store cannot be reached.
 */
export async function runDeps(
  ctx: AppContext,
): Promise<RunDagDeps & { events: EventLogLike; backend: Store }> {
  const store = await ctx.store();
  const events = await ctx.events();
  return {
    pool: ctx.pool(),
    events,
    store: store.state,
    liveness: store.liveness,
    clock: ctx.clock,
    sleep: ctx.sleep,
    backend: store,
  };
}

/**
 * Loads and validates the schedules of `dir`, each DAG fully (load, plan, workflows,
 * params) through `prepareRun`, so a bad DAG fails before anything runs.
 * @param ctx The app context.
 * @param dir The `--dir` value.
 * @param command The command, for usage errors.
 * @param inspected Remembers what inspecting the workflows found (see `prepareRun`).
 * @returns The schedules and each schedule's DAG name.
 * @throws {UsageError} When `dir` is missing.
 * @throws {ScheduleValidationError} When a schedule or its DAG is invalid.
 */
export async function loadValidSchedules(
  ctx: AppContext,
  dir: string | undefined,
  command: string,
  inspected?: InspectionCache,
): Promise<{ schedules: Schedule[]; dagNames: Map<string, string> }> {
  if (!dir) throw new UsageError("Missing --dir DIR", command);
  // Imported here: a --once minute answered from the next-due index needs neither.
  const [{ loadSchedules }, { ValidationCache }, registry] = await Promise.all([
    import("../../schedule/load.ts"),
    import("../../run/validation_cache.ts"),
    ctx.registry(),
  ]);
  const names = new Map<string, string>();
  // Unchanged DAGs that passed before are not re-checked: cron calls --once every minute.
  const cache = await ValidationCache.load(`${ctx.config.paths.statePath}.validated.json`);
  const schedules = await loadSchedules(resolve(ctx.io.cwd, dir), {
    cwd: ctx.io.cwd,
    validateDag: async (path) => {
      const fingerprint = await cache.fingerprint(path, registry, VERSION);
      const known = fingerprint && cache.passed(path, fingerprint);
      if (known) {
        names.set(path, known);
        return [];
      }
      try {
        const prepared = await prepareRun(path, { registry, pool: ctx.pool(), inspected });
        names.set(path, prepared.dag.name);
        if (fingerprint) cache.remember(path, fingerprint, prepared.dag.name);
        return [];
      } catch (err) {
        if (!(err instanceof OrchestratorError)) throw err;
        return [`${err.name}: ${err.message.split("\n").join(" ")}`];
      }
    },
  });
  await cache.save();
  const dagNames = new Map(schedules.map((s) => [s.id, names.get(s.dagPath) ?? s.dag]));
  return { schedules, dagNames };
}

/**
 * Listens for SIGINT and SIGTERM.
 * @param onSignal Called with the signal's name.
 * @returns Removes the listeners.
 */
export function onStopSignals(onSignal: (sig: Deno.Signal) => void): () => void {
  const sigs: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const fns = sigs.map((s) => [s, () => onSignal(s)] as const);
  for (const [s, f] of fns) Deno.addSignalListener(s, f);
  return () => {
    for (const [s, f] of fns) Deno.removeSignalListener(s, f);
  };
}

/**
 * @param value A `--limit` value.
 * @param command The command, for usage errors.
 * @returns The positive whole number.
 * @throws {UsageError} When it is not one.
 */
export function parseLimit(value: string | undefined, command: string, dflt: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`Invalid --limit "${value}": expected a whole number >= 1`, command);
  }
  return n;
}
