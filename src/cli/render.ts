import type { PreparedRun } from "../run/prepare.ts";
import type { RunResult } from "../run/types.ts";
import type { RunEvent } from "../store/events.ts";

/**
 * The seed's dry-run block.
 * @param prepared A prepared run.
 * @returns The text, ending with a newline.
 */
export function renderDryRun(prepared: PreparedRun): string {
  const { dag, plan } = prepared;
  const lines = [
    `DRY RUN: DAG '${dag.name}'`,
    `Tenant: ${dag.tenantId}`,
    `Tasks: ${dag.tasks.length}`,
    "",
    "Execution Plan:",
  ];
  plan.order.forEach((i, k) => {
    const t = dag.tasks[i];
    const deps = t.dependsOn.length ? t.dependsOn.join(", ") : "none";
    lines.push(`  ${k + 1}. ${t.id} (workflow: ${t.workflowRef}, depends_on: ${deps})`);
  });
  return lines.join("\n") + "\n";
}

/**
 * The seed's completion block.
 * @param r The run result.
 * @returns The text, ending with a newline.
 */
export function renderSummary(r: RunResult): string {
  const lines = [
    "DAG EXECUTION COMPLETE",
    `DAG: ${r.dagName}`,
    `Tasks Succeeded: ${r.succeeded}`,
    `Tasks Failed: ${r.failed}`,
  ];
  if (r.skipped > 0) lines.push(`Tasks Skipped: ${r.skipped}`);
  lines.push(`Duration: ${r.durationS.toFixed(2)}s`);
  return lines.join("\n") + "\n";
}

/**
 * The `--json` form of a run result (snake_case, tasks in plan order).
 * @param r The run result.
 * @returns A JSON-ready object.
 */
export function runResultJson(r: RunResult): Record<string, unknown> {
  return {
    run_id: r.runId,
    dag_name: r.dagName,
    tenant_id: r.tenantId,
    status: r.status,
    duration_s: r.durationS,
    tasks: r.tasks.map((t) => ({
      id: t.id,
      workflow_ref: t.workflowRef,
      status: t.status,
      attempts: t.attempts,
      ...(t.output ? { output: t.output } : {}),
      ...(t.error ? { error: t.error } : {}),
      ...(t.reusedFrom ? { reused_from: t.reusedFrom } : {}),
    })),
  };
}

const COLORS = { green: 32, red: 31, yellow: 33, dim: 2, cyan: 36 } as const;

/**
 * One progress line for an event, or undefined for events not shown.
 * @param e The event.
 * @param color Use ANSI colours.
 * @returns The line without newline.
 */
export function renderProgress(e: RunEvent, color: boolean): string | undefined {
  const paint = (c: keyof typeof COLORS, s: string) => color ? `\x1b[${COLORS[c]}m${s}\x1b[0m` : s;
  const time = e.timestamp.slice(11, 19);
  switch (e.event) {
    case "dag_start":
      return `${time} ${paint("cyan", "run")} ${e.dag_name} ${paint("dim", e.run_id)}`;
    case "task_start":
      return `${time}   ${paint("dim", "start")} ${e.task_id} (attempt ${e.attempt})`;
    case "task_ok":
      return e.attempt === 0
        ? `${time}   ${paint("green", "reuse")} ${e.task_id}`
        : `${time}   ${paint("green", "ok")}    ${e.task_id} ${e.duration_s.toFixed(2)}s`;
    case "task_fail":
      return `${time}   ${paint("red", "fail")}  ${e.task_id} (attempt ${e.attempt}): ${e.error}`;
    case "task_retry":
      return `${time}   ${
        paint("yellow", "retry")
      } ${e.task_id} in ${e.delay_s}s (attempt ${e.attempt})`;
    case "task_skipped":
      return `${time}   ${paint("yellow", "skip")}  ${e.task_id}` +
        (e.reason === "upstream_failed" ? ` (upstream ${e.upstream} failed)` : " (cancelled)");
    case "task_log":
      return `${time}   ${paint("dim", "log")}   ${e.task_id}: ${e.message}`;
    default:
      return undefined;
  }
}
