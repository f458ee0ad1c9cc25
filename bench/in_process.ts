/**
 * The engine measured warm, in this process: `executeDag` with one WorkerPool reused
 * across runs and events written to a real file, as a long-running scheduler would run
 * DAGs. The CLI figures include a cold JIT (every CLI run is a fresh process); this
 * shows the steady state.
 * @module
 */
import { fileURLToPath } from "node:url";
import { systemClock } from "../src/lib/clock.ts";
import { sleep } from "../src/lib/sleep.ts";
import { WorkerPool } from "../src/pool/mod.ts";
import { prepareRun } from "../src/run/prepare.ts";
import { executeDag } from "../src/run/executor.ts";
import { EventLog } from "../src/store/event_log.ts";
import { WorkflowRegistry } from "../src/workflows/registry.ts";
import { type Graph, median, verifyDepths } from "./_graph.ts";

const WORKFLOWS = fileURLToPath(new URL("./workflows", import.meta.url));

/** A warm engine: one pool for every DAG. */
export class WarmEngine {
  readonly #pool = new WorkerPool({ size: 2 });
  #registry?: WorkflowRegistry;

  /**
   * @param yamlPath The DAG file.
   * @param g Its index form, to verify outputs.
   * @param options `reps` measured runs (after one warm-up), `dir` for the events file.
   * @returns Median microseconds per task, dag start to done.
   */
  async usPerTask(yamlPath: string, g: Graph, options: { reps: number; dir: string }) {
    this.#registry ??= await WorkflowRegistry.scan(WORKFLOWS, []);
    const prepared = await prepareRun(yamlPath, { registry: this.#registry, pool: this.#pool });
    const times = [];
    for (let r = 0; r <= options.reps; r++) {
      const events = new EventLog(`${options.dir}/warm-events.jsonl`);
      const t0 = performance.now();
      const res = await executeDag({
        ...prepared,
        pool: this.#pool,
        events,
        clock: systemClock,
        sleep,
        runId: `warm-${r}`,
      });
      await events.flush();
      const ms = performance.now() - t0;
      await events.close();
      const byId = new Map(res.tasks.map((t) => [t.id, t.output?.depth as number | undefined]));
      verifyDepths(g, (i) => byId.get(g.ids[i]));
      if (r > 0) times.push(ms);
    }
    await Deno.remove(`${options.dir}/warm-events.jsonl`);
    return median(times) * 1000 / g.n;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
