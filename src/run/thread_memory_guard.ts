import { getHeapStatistics } from "node:v8";
import type { Config } from "../config/config.ts";
import type { WorkerPoolOptions } from "../pool/mod.ts";
import { memoryIncidentHandler } from "./memory_incident.ts";
import { quarantinePath, readQuarantine } from "./quarantine.ts";

/**
 * The pool options that keep unbounded allocation in worker threads from aborting orch:
 * quarantined workflows run in worker processes capped at `ORCH_QUARANTINE_MEMORY_MB` (or
 * their own `memoryMb`), and the RSS watchdog (`ORCH_MEMORY_LIMIT_MB`, 0 = off) quarantines
 * the workflows running in threads when the limit is passed, at once for this process too,
 * and stops the process cleanly when their threads cannot be stopped.
 * @param config The config (state store path, limits).
 * @param stderr Writes one line (notices and the incident line).
 * @returns `isolate` and `memoryLimit` for {@link WorkerPoolOptions}.
 */
export function threadMemoryGuard(
  config: Config,
  stderr: (line: string) => void,
): Pick<WorkerPoolOptions, "isolate" | "memoryLimit"> {
  const path = quarantinePath(config.paths.statePath);
  const quarantine = readQuarantine(path, { onWarning: stderr });
  const noticed = new Set<string>();
  // A thread's isolate aborts the process at the V8 heap limit: stop before that.
  const criticalMb = getHeapStatistics().heap_size_limit / 2 ** 20 * 0.9;
  return {
    isolate: (source) => {
      const q = quarantine.size === 0 ? undefined : quarantine.get(source.name);
      if (!q) return undefined;
      if (!noticed.has(q.workflow)) {
        noticed.add(q.workflow);
        stderr(
          `orch: workflow "${q.workflow}" is quarantined since ${q.since} (${q.reason}): ` +
            `it runs in a worker process capped at ${config.quarantineMemoryMb} MB ` +
            `(orch workflows --unquarantine ${q.workflow} undoes it)`,
        );
      }
      return { memoryMb: source.isolation?.process.memoryMb ?? config.quarantineMemoryMb };
    },
    memoryLimit: config.memoryLimitMb === 0 ? undefined : {
      limitMb: config.memoryLimitMb,
      criticalMb,
      ...memoryIncidentHandler({
        quarantinePath: path,
        stderr,
        onQuarantined: (entries) => {
          for (const e of entries) if (!quarantine.has(e.workflow)) quarantine.set(e.workflow, e);
        },
        criticalMb,
      }),
    },
  };
}
