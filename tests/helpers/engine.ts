/** Runs DAGs in process through the public API, with an InlinePool and fake time. */
import { fileURLToPath as fromFileUrl } from "node:url";
import {
  executeDag,
  InlinePool,
  ManualClock,
  parseDag,
  prepareRun,
  type RunResult,
  type TaskPool,
  WorkflowRegistry,
} from "../../mod.ts";
import type { JsonObject } from "../../mod.ts";
import { dagYaml, type TaskYaml } from "./dag.ts";

/** The test plugins in tests/fixtures/workflows. */
export const FIXTURE_WORKFLOWS = fromFileUrl(new URL("../fixtures/workflows", import.meta.url));

/** What `runInline` recorded besides the result. */
export interface InlineRun {
  result: RunResult;
  events: Record<string, unknown>[];
  delays: number[];
}

/**
 * Prepares and executes a DAG in process. `sleep` resolves at once and records delays.
 * @param tasks The tasks.
 * @param options Pool size or pool, run params, reuse, an abort signal.
 * @returns The result, the events and the retry delays asked for.
 */
export async function runInline(
  tasks: TaskYaml[],
  options: {
    size?: number;
    pool?: TaskPool;
    runParams?: JsonObject;
    reuse?: Map<string, JsonObject>;
    signal?: AbortSignal;
  } = {},
): Promise<InlineRun> {
  const pool = options.pool ?? new InlinePool({ size: options.size ?? 2 });
  const registry = await WorkflowRegistry.scan(FIXTURE_WORKFLOWS, []);
  const events: Record<string, unknown>[] = [];
  const delays: number[] = [];
  try {
    const prepared = await prepareRun(parseDag(dagYaml("t", tasks)), { registry, pool });
    const result = await executeDag({
      ...prepared,
      pool,
      events: { append: (...e) => events.push(...(e as Record<string, unknown>[])) },
      clock: new ManualClock(new Date("2026-01-01T00:00:00Z")),
      sleep: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
      random: () => 0.5,
      runId: "run-1",
      runParams: options.runParams,
      reuse: options.reuse,
      signal: options.signal,
    });
    return { result, events, delays };
  } finally {
    if (!options.pool) await pool.close();
  }
}
