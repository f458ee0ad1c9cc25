import { hostName } from "../../run/liveness.ts";
import { recoverDeadRuns } from "../../run/recovery.ts";
import { listRuns, type RunRow } from "../../run/run_list.ts";
import { parseCommandArgs } from "../args.ts";
import type { PostgresStore } from "../../store/postgres/store.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import { parseLimit } from "./_scheduling.ts";

export const RUNS_HELP = `Usage: orch runs [--limit N] [--schedule ID] [--status S] [--json]

Lists recent runs from the state store, newest first. Runs whose process is gone are
recorded as interrupted first (crash recovery), so nothing shows "running" forever.
With a PostgreSQL store, a running distributed run whose tasks are queued while no
'orch worker' is alive (ORCH_WORKER_LOST_MS) gets a NOTE column "waiting: no worker"
(--json: "waiting": "no_worker") and a line on stderr saying to start one.

Options:
  --limit N       How many runs (default 20)
  --schedule ID   Only runs of this schedule
  --status S      Only runs with this status: success, failed, cancelled, interrupted,
                  running or queued
  --json          Print a JSON array
  --store URL     PostgreSQL store (default ORCH_STORE, else the JSONL files)
  -h, --help      Show this help

Environment: ORCH_STORE, STATE_STORE_PATH, ORCH_EVENTS_PATH, ORCH_WORKER_LOST_MS.
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
  const waiting = await markWaitingForWorker(ctx, rows);
  if (values.json) {
    ctx.io.stdout(JSON.stringify(rows, null, 2) + "\n");
  } else {
    ctx.io.stdout(renderRuns(rows));
  }
  if (waiting) ctx.io.stderr(`${waiting}\n`);
  return 0;
}

/**
 * PostgreSQL: marks the running cluster runs that wait for a worker (`waiting`).
 * @returns The message to print when some do, else null.
 */
async function markWaitingForWorker(ctx: AppContext, rows: RunRow[]): Promise<string | null> {
  if (ctx.storeConfig.kind !== "postgres") return null;
  const running = rows.filter((r) => r.status === "running").map((r) => r.run_id);
  if (running.length === 0) return null;
  const presence = await import("../../store/postgres/worker_presence.ts");
  const store = await ctx.store() as PostgresStore;
  const waiting = await presence.runsWaitingForWorker(store.sql, {
    schema: store.config.schema,
    runIds: running,
    lostMs: ctx.config.workerLostMs,
  });
  for (const r of rows) if (waiting.has(r.run_id)) r.waiting = "no_worker";
  return waiting.size > 0 ? presence.NO_WORKER_MESSAGE : null;
}

/**
 * @param rows Runs, newest first.
 * @returns A table, or a one-line note when there are none.
 */
export function renderRuns(rows: readonly RunRow[]): string {
  if (rows.length === 0) return "No runs recorded\n";
  // NOTE appears only when a run has one, so the usual table is unchanged.
  const noted = rows.some((r) => r.waiting);
  const head = ["RUN_ID", "SCHEDULE", "DAG", "STATUS", "STARTED", "FINISHED", "DURATION"];
  if (noted) head.push("NOTE");
  const body = rows.map((r) => [
    r.run_id,
    r.schedule_id ?? (r.trigger === "retry" ? "(retry)" : "-"),
    r.dag_name,
    r.status,
    shortTime(r.started),
    r.finished ? shortTime(r.finished) : "-",
    r.duration_s === null ? "-" : `${r.duration_s.toFixed(2)}s`,
    ...(noted ? [r.waiting ? "waiting: no worker" : ""] : []),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(head), ...body.map(line)].join("\n") + "\n";
}

function shortTime(iso: string): string {
  return iso.replace("T", " ").replace(/\.\d+Z$/, "Z");
}
