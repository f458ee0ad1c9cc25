/**
 * What orch does when its memory watchdog fires (see `src/pool/memory_watchdog.ts`):
 * a workflow running in a worker thread drove the process past `ORCH_MEMORY_LIMIT_MB`,
 * and a thread cannot be stopped, so the process has to stop before V8 aborts it.
 *
 * The pool fails the suspects' attempts with the message built here and cancels the rest;
 * this handler quarantines the suspects (they run in memory-capped worker processes from
 * the next start), prints one line, and ends the process after a short drain in which the
 * runs record their end (`task_fail`, `dag_done`, `run_finished`). `orch run` usually
 * finishes first, with exit code 1; a scheduler is ended by the drain timer. Whatever a
 * run could not record is recovered as `interrupted` at the next start.
 * @module
 */
import type { MemoryLimitOptions, MemorySuspect } from "../pool/mod.ts";
import { addToQuarantine, type QuarantineEntry } from "./quarantine.ts";

/** How long the runs get to record their end before the process exits. */
export const MEMORY_DRAIN_MS = 1000;

/** Exit code after a memory incident: a run failed. */
export const MEMORY_EXIT_CODE = 1;

/** Options of {@link memoryIncidentHandler}. */
export interface MemoryIncidentOptions {
  /** The quarantine file. */
  quarantinePath: string;
  /** Writes one line to stderr. */
  stderr: (line: string) => void;
  /** Ends the process (default `Deno.exit`). */
  exit?: (code: number) => void;
  /** Default: the system clock. */
  now?: () => Date;
  /** Default {@link MEMORY_DRAIN_MS}. */
  drainMs?: number;
  /** Exit at once when the RSS passes this many MiB during the drain. */
  criticalMb?: number;
  /** RSS source in bytes (default `Deno.memoryUsage().rss`). */
  rssBytes?: () => number;
}

/**
 * @param options Where to quarantine, how to report and exit.
 * @returns The pool's `onExceeded` callback.
 */
export function memoryIncidentHandler(
  options: MemoryIncidentOptions,
): MemoryLimitOptions["onExceeded"] {
  return (incident) => {
    const names = [...new Set(incident.suspects.map((s) => s.source.name))];
    const at = (options.now?.() ?? new Date()).toISOString();
    const rss = Math.round(incident.rssMb);
    const usage = `RSS ${rss} MB > ORCH_MEMORY_LIMIT_MB ${incident.limitMb}`;
    const who = names.length === 1
      ? `workflow "${names[0]}"`
      : `workflows ${names.map((n) => `"${n}"`).join(", ")}`;
    let saved = "";
    try {
      addToQuarantine(options.quarantinePath, incident.suspects.map((s) => entry(s, at, usage)));
    } catch (err) {
      saved = ` (could not write the quarantine "${options.quarantinePath}": ${
        (err as Error).message
      })`;
    }
    const undo = names.map((n) => `orch workflows --unquarantine ${n}`).join("; ");
    options.stderr(
      `orch: memory limit exceeded, ${usage}, while ${who} ran in a worker thread (${
        where(incident.suspects)
      }): quarantined${saved}, it runs in a memory-capped worker process from the next start ` +
        `(undo: ${undo}); stopping`,
    );
    scheduleExit(options);
    return `${capitalize(who)} exceeded the memory limit in a worker thread (${usage}): ` +
      `orch stops, and from its next start the workflow runs in a memory-capped worker process (quarantine)`;
  };
}

function entry(s: MemorySuspect, since: string, usage: string): QuarantineEntry {
  return {
    workflow: s.source.name,
    source: s.source.kind === "file" ? s.source.path : "built-in",
    since,
    reason: `${usage} while it ran in a worker thread (run ${s.runId}, task "${s.taskId}")`,
  };
}

function where(suspects: MemorySuspect[]): string {
  return suspects.map((s) => `run ${s.runId}, task "${s.taskId}"`).join("; ");
}

function capitalize(s: string): string {
  return s[0].toUpperCase() + s.slice(1);
}

/** Exits after the drain, or at once when the RSS gets near the point where V8 aborts. */
function scheduleExit(options: MemoryIncidentOptions): void {
  const exit = options.exit ?? Deno.exit;
  const rss = options.rssBytes ?? (() => Deno.memoryUsage().rss);
  const deadline = Date.now() + (options.drainMs ?? MEMORY_DRAIN_MS);
  const timer = setInterval(() => {
    const critical = options.criticalMb !== undefined && rss() / 2 ** 20 > options.criticalMb;
    if (critical || Date.now() >= deadline) {
      clearInterval(timer);
      exit(MEMORY_EXIT_CODE);
    }
  }, 25);
  // `orch run` exits by itself once its run has recorded its end.
  Deno.unrefTimer(timer);
}
