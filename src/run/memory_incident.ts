/**
 * What orch does about a memory incident of its worker threads (see
 * `src/pool/memory_watchdog.ts`): a workflow running in a thread drove the process past
 * `ORCH_MEMORY_LIMIT_MB`. The pool has failed the suspects' attempts with the message built
 * here and stopped their threads as far as it can; this handler quarantines the suspects
 * (memory-capped worker processes from now on, and at every later start) and says so.
 *
 * Contained (the plugin yielded, so its thread stopped and the RSS fell back): orch goes on.
 * Stuck (a synchronous loop: the thread cannot be stopped and V8 would abort the process):
 * the pool has cancelled every job, and this handler ends the process after a short drain in
 * which the runs record their end (`task_fail`, `dag_done`, `run_finished`). `orch run`
 * usually finishes first, with exit code 1; a scheduler is ended by the drain timer, with
 * {@link MEMORY_EXIT_CODE}, on which the `scheduler --serve` supervisor restarts it. What a
 * run could not record is recovered as `interrupted` at the next start.
 * @module
 */
import type { MemoryIncident, MemoryLimitOptions, MemorySuspect } from "../pool/mod.ts";
import { addToQuarantine, type QuarantineEntry } from "./quarantine.ts";

/** How long the runs get to record their end before the process exits. */
export const MEMORY_DRAIN_MS = 1000;

/**
 * Exit code of the stop after a memory incident (the drain timer): distinct from 1 (a run
 * failed) so that the `scheduler --serve` supervisor knows to restart its child at once.
 */
export const MEMORY_EXIT_CODE = 5;

/**
 * Whether a task error is one the memory stop wrote: the culprit's attempt, or a job the
 * pool cancelled when it stopped (`src/pool/_memory_guard.ts`).
 * @param error The `error` of a `task_fail` event.
 * @returns Whether the memory stop ended that attempt.
 */
export function isMemoryStopError(error: string): boolean {
  return /exceeded the memory limit in a worker thread|orch is stopping \(memory limit exceeded\)/
    .test(error);
}

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
  /** Called with the new entries, so that they apply in this process too. */
  onQuarantined?: (entries: QuarantineEntry[]) => void;
}

/**
 * @param options Where to quarantine, how to report and exit.
 * @returns The pool's incident callbacks.
 */
export function memoryIncidentHandler(
  options: MemoryIncidentOptions,
): Pick<MemoryLimitOptions, "onExceeded" | "onContained" | "onStuck"> {
  return {
    onExceeded(incident) {
      const at = (options.now?.() ?? new Date()).toISOString();
      const usage = usageOf(incident);
      const entries = incident.suspects.map((s) => entry(s, at, usage));
      options.onQuarantined?.(entries);
      let saved = "";
      try {
        addToQuarantine(options.quarantinePath, entries);
      } catch (err) {
        saved = ` (could not write the quarantine "${options.quarantinePath}": ${
          (err as Error).message
        })`;
      }
      const names = namesOf(incident);
      const undo = names.map((n) => `orch workflows --unquarantine ${n}`).join("; ");
      options.stderr(
        `orch: memory limit exceeded, ${usage}, while ${who(incident)} ran in a worker thread (${
          where(incident.suspects)
        }): the attempt failed; quarantined${saved}: it runs in memory-capped worker processes ` +
          `from now on (undo: ${undo})`,
      );
      return `${capitalize(who(incident))} exceeded the memory limit in a worker thread ` +
        `(${usage}); quarantined: its later attempts run in a memory-capped worker process`;
    },
    onContained(incident) {
      options.stderr(
        `orch: the thread of ${who(incident)} stopped and its memory was freed ` +
          `(RSS back under ORCH_MEMORY_LIMIT_MB ${incident.limitMb}); orch goes on`,
      );
    },
    onStuck(incident) {
      options.stderr(
        `orch: the thread of ${who(incident)} cannot be stopped (it allocates without ` +
          `yielding); orch records its runs and stops (exit ${MEMORY_EXIT_CODE} after the drain); ` +
          `'orch retry RUN_ID' continues a run it ended (scheduler --serve does so by itself)`,
      );
      scheduleExit(options);
    },
  };
}

function usageOf(incident: MemoryIncident): string {
  return `RSS ${Math.round(incident.rssMb)} MB > ORCH_MEMORY_LIMIT_MB ${incident.limitMb}`;
}

function namesOf(incident: MemoryIncident): string[] {
  return [...new Set(incident.suspects.map((s: MemorySuspect) => s.source.name))];
}

function who(incident: MemoryIncident): string {
  const names = namesOf(incident);
  return names.length === 1
    ? `workflow "${names[0]}"`
    : `workflows ${names.map((n) => `"${n}"`).join(", ")}`;
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
