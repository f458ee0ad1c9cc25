import { listRuns, type RunRow } from "../../run/run_list.ts";
import { type ExplainRun, explainSchedule, nextFireTimes } from "../../schedule/explain.ts";
import type { Schedule } from "../../schedule/schema.ts";
import { localMinute } from "../../schedule/_time.ts";
import type { ScheduleMinuteEvent, StateStoreLike } from "../../store/mod.ts";
import { OrchestratorError } from "../../lib/errors.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import { loadValidSchedules } from "./_scheduling.ts";

export const SCHEDULES_HELP = `Usage: orch schedules --dir DIR [--json] [--explain ID]

Lists every schedule of DIR with its next 5 fire times, its last run and that run's
status. Schedules and their DAGs are fully validated (exit 2 on any problem).

Options:
  --dir DIR      Directory of schedule files (required)
  --json         Print JSON instead of text
  --explain ID   Tell why schedule ID did or did not fire in the last hour
  -h, --help     Show this help

  --store URL    PostgreSQL store (default ORCH_STORE, else the JSONL files)

Environment: ORCH_STORE, STATE_STORE_PATH, WORKFLOWS_DIR.
`;

const HOUR_MS = 3_600_000;
/** Runs read to find each schedule's last run. */
const LAST_RUN_SCAN = 1000;

/**
 * `orch schedules`: schedules with next fire times and last runs, or `--explain ID`.
 * @param ctx The app context.
 * @param args Arguments after `schedules`.
 * @returns 0, or 2 for invalid input.
 */
export async function schedulesCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("schedules", args, {
    dir: { type: "string" },
    json: { type: "boolean" },
    explain: { type: "string" },
  });
  if (values.help) {
    ctx.io.stdout(SCHEDULES_HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument "${positionals[0]}"`, "schedules");
  }
  const { schedules } = await loadValidSchedules(ctx, values.dir as string, "schedules");
  const store = (await ctx.store()).state;
  const now = ctx.clock.now();
  const explainId = values.explain as string | undefined;
  if (explainId !== undefined) {
    const schedule = schedules.find((s) => s.id === explainId);
    if (!schedule) throw new UnknownScheduleError(explainId, schedules.map((s) => s.id));
    const lines = await explain(store, schedule, now);
    if (values.json) ctx.io.stdout(JSON.stringify({ schedule_id: explainId, lines }) + "\n");
    else ctx.io.stdout(lines.join("\n") + "\n");
    return 0;
  }
  const last = new Map<string, RunRow>();
  for (const r of await listRuns(store, { limit: LAST_RUN_SCAN })) {
    if (r.schedule_id && !last.has(r.schedule_id)) last.set(r.schedule_id, r);
  }
  const rows = schedules.map((s) => ({ s, next: nextFireTimes(s, now, 5), last: last.get(s.id) }));
  if (values.json) {
    ctx.io.stdout(
      JSON.stringify(
        rows.map(({ s, next, last }) => ({
          id: s.id,
          cron: s.cron,
          timezone: s.timezone,
          enabled: s.enabled,
          dag: s.dag,
          tenant: s.tenant,
          overlap: s.overlap,
          catchup_window_ms: s.catchupWindowMs,
          next: next.map((d) => d.toISOString()),
          last_run: last
            ? {
              run_id: last.run_id,
              status: last.status,
              started: last.started,
              finished: last.finished,
            }
            : null,
        })),
        null,
        2,
      ) + "\n",
    );
    return 0;
  }
  if (rows.length === 0) ctx.io.stdout("No schedules\n");
  for (const { s, next, last } of rows) {
    const state = s.enabled ? "" : " (disabled)";
    ctx.io.stdout(`${s.id}${state}: "${s.cron}" ${s.timezone} -> ${s.dag} [${s.tenant}]\n`);
    ctx.io.stdout(`  next: ${next.map((d) => localMinute(d, s.timezone)).join(", ")}\n`);
    ctx.io.stdout(
      `  last: ${last ? `${last.run_id} ${last.status} (started ${last.started})` : "never run"}\n`,
    );
  }
  return 0;
}

async function explain(store: StateStoreLike, schedule: Schedule, now: Date): Promise<string[]> {
  const start = now.getTime() - HOUR_MS - 60_000;
  const decided: ScheduleMinuteEvent[] = [];
  const finished = new Map<string, ExplainRun>();
  const started = new Set<string>();
  for await (const e of store.scanBackward()) {
    if (Date.parse(e.timestamp) < start - 5 * 60_000) break;
    const runId = typeof e.run_id === "string" ? e.run_id : "";
    if (e.event === "run_finished" && !finished.has(runId)) {
      finished.set(runId, { status: String(e.status), reason: e.reason as string | undefined });
    }
    if (e.event === "run_started") started.add(runId);
    if (e.schedule_id !== schedule.id) continue;
    if (e.event === "schedule_enqueued" || e.event === "schedule_skipped") {
      decided.push(e as unknown as ScheduleMinuteEvent);
    }
  }
  const runs = new Map<string, ExplainRun>();
  for (const e of decided) {
    const id = e.event === "schedule_enqueued" ? e.run_id : undefined;
    if (!id) continue;
    runs.set(id, finished.get(id) ?? { status: started.has(id) ? "running" : "queued" });
  }
  const watermark = (await store.readWatermarks()).get(schedule.id);
  return explainSchedule(schedule, { decided: decided.reverse(), runs, watermark, now });
}

/** `--explain` named a schedule that is not defined. Exit code 2. */
export class UnknownScheduleError extends OrchestratorError {
  /** The id asked for. */
  readonly scheduleId: string;
  /**
   * @param id The id asked for.
   * @param known The defined ids.
   */
  constructor(id: string, known: string[]) {
    super(`Cannot explain schedule "${id}": no schedule has this id`, {
      code: "schedule_unknown",
      exitCode: 2,
      hint: known.length ? `Defined schedules: ${known.join(", ")}` : "The directory has none",
    });
    this.name = "UnknownScheduleError";
    this.scheduleId = id;
  }
}
