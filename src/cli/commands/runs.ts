import { hostName } from "../../run/liveness.ts";
import { recoverDeadRuns } from "../../run/recovery.ts";
import { listRuns, type RunRow } from "../../run/run_list.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import { parseLimit } from "./_scheduling.ts";

export const RUNS_HELP = `Usage: orch runs [--limit N] [--schedule ID] [--status S] [--json]

Lists recent runs from the state store, newest first. Runs whose process is gone are
recorded as interrupted first (crash recovery), so nothing shows "running" forever.

Options:
  --limit N       How many runs (default 20)
  --schedule ID   Only runs of this schedule
  --status S      Only runs with this status: success, failed, cancelled, interrupted,
                  running or queued
  --json          Print a JSON array
  --store URL     PostgreSQL store (default ORCH_STORE, else the JSONL files)
  -h, --help      Show this help

Environment: ORCH_STORE, STATE_STORE_PATH, ORCH_EVENTS_PATH.
`;

const STATUSES = ["success", "failed", "cancelled", "interrupted", "running", "queued"];

/**
 * `orch runs`: recent runs, newest first.
 * @param ctx The app context.
 * @param args Arguments after `runs`.
 * @returns 0.
 */
export async function runsCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("runs", args, {
    limit: { type: "string" },
    schedule: { type: "string" },
    status: { type: "string" },
    json: { type: "boolean" },
  });
  if (values.help) {
    ctx.io.stdout(RUNS_HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument "${positionals[0]}"`, "runs");
  }
  const limit = parseLimit(values.limit as string | undefined, "runs", 20);
  const status = values.status as string | undefined;
  if (status !== undefined && !STATUSES.includes(status)) {
    throw new UsageError(
      `Unknown --status "${status}": expected one of ${STATUSES.join(", ")}`,
      "runs",
    );
  }
  const backend = await ctx.store();
  const store = backend.state;
  const recovered = await recoverDeadRuns(store, { clock: ctx.clock, backend, host: hostName() });
  for (const r of recovered) ctx.io.stderr(`Recovered run ${r.runId}: ${r.reason}\n`);
  const rows = await listRuns(store, {
    limit,
    scheduleId: values.schedule as string | undefined,
    status,
  });
  if (values.json) {
    ctx.io.stdout(JSON.stringify(rows, null, 2) + "\n");
    return 0;
  }
  ctx.io.stdout(renderRuns(rows));
  return 0;
}

/**
 * @param rows Runs, newest first.
 * @returns A table, or a one-line note when there are none.
 */
export function renderRuns(rows: readonly RunRow[]): string {
  if (rows.length === 0) return "No runs recorded\n";
  const head = ["RUN_ID", "SCHEDULE", "DAG", "STATUS", "STARTED", "FINISHED", "DURATION"];
  const body = rows.map((r) => [
    r.run_id,
    r.schedule_id ?? (r.trigger === "retry" ? "(retry)" : "-"),
    r.dag_name,
    r.status,
    shortTime(r.started),
    r.finished ? shortTime(r.finished) : "-",
    r.duration_s === null ? "-" : `${r.duration_s.toFixed(2)}s`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(head), ...body.map(line)].join("\n") + "\n";
}

function shortTime(iso: string): string {
  return iso.replace("T", " ").replace(/\.\d+Z$/, "Z");
}
