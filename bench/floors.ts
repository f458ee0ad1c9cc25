/**
 * The runtime floors orch is measured against, run in the benchmark's own process:
 * a minimal Web-Worker DAG dispatcher (as the peer harness's `deno_workers.ts`) and a
 * bare YAML parse.
 *
 * The dispatcher is a main-thread Kahn scheduler over W module workers, one no-op per
 * task, upstream outputs sent along:
 * - `rt1`: at most one task in flight per worker (one round trip per task);
 * - `pipe`: up to 64 in flight per worker, one message per task;
 * - `batch`: all tasks ready at a dispatch point go in one message per worker (<= 64).
 * @module
 */
import process from "node:process";
import { parse } from "yaml";
import { type Graph, median, verifyDepths } from "./_graph.ts";

/** Floor variants of the dispatcher. */
export type FloorKind = "rt1" | "pipe" | "batch";

type Out = { id: string; depth: number };

/** A started set of floor workers; `close()` terminates them. */
export class FloorPool {
  readonly #workers: Worker[];

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  /**
   * @param size Number of workers.
   * @returns A pool whose workers have answered a ping.
   */
  static async start(size: number): Promise<FloorPool> {
    const url = new URL("./floor_worker.ts", import.meta.url);
    const workers = Array.from({ length: size }, () => new Worker(url, { type: "module" }));
    await Promise.all(workers.map((w) =>
      new Promise<void>((resolve) => {
        w.onmessage = () => resolve();
        w.postMessage("ping");
      })
    ));
    return new FloorPool(workers);
  }

  /**
   * Runs a DAG once and checks the outputs.
   * @param g The DAG.
   * @param kind The variant.
   * @returns Elapsed milliseconds.
   */
  async run(g: Graph, kind: FloorKind): Promise<number> {
    const t0 = performance.now();
    const outs = await this.#dispatch(g, kind === "rt1" ? 1 : 64, kind === "batch");
    const ms = performance.now() - t0;
    verifyDepths(g, (i) => outs[i]?.depth);
    return ms;
  }

  /**
   * Median of several runs, after one warm-up.
   * @param g The DAG.
   * @param kind The variant.
   * @param reps Measured runs.
   * @returns Median microseconds per task.
   */
  async usPerTask(g: Graph, kind: FloorKind, reps: number): Promise<number> {
    await this.run(g, kind);
    const times = [];
    for (let r = 0; r < reps; r++) times.push(await this.run(g, kind));
    return median(times) * 1000 / g.n;
  }

  close(): void {
    for (const w of this.#workers) w.terminate();
  }

  #dispatch(g: Graph, maxInflight: number, batch: boolean): Promise<Out[]> {
    const workers = this.#workers;
    const W = workers.length;
    return new Promise((resolve) => {
      const indeg = g.indeg.slice();
      const outs: Out[] = new Array(g.n);
      const inflight = new Int32Array(W);
      const ready: number[] = [];
      let executed = 0;
      const msg = (i: number) => ({ i, id: g.ids[i], ups: g.deps[i].map((d) => outs[d]) });
      const pump = () => {
        while (ready.length) {
          let best = 0;
          for (let w = 1; w < W; w++) if (inflight[w] < inflight[best]) best = w;
          if (inflight[best] >= maxInflight) return;
          if (!batch) {
            inflight[best]++;
            workers[best].postMessage(msg(ready.pop()!));
          } else {
            const k = Math.min(Math.ceil(ready.length / W), maxInflight - inflight[best]);
            const jobs = new Array(k);
            for (let j = 0; j < k; j++) jobs[j] = msg(ready.pop()!);
            inflight[best] += k;
            workers[best].postMessage(jobs);
          }
        }
      };
      const done = (w: number, r: { i: number; out: Out }) => {
        inflight[w]--;
        outs[r.i] = r.out;
        executed++;
        for (const c of g.children[r.i]) if (--indeg[c] === 0) ready.push(c);
      };
      workers.forEach((wk, w) => {
        wk.onmessage = (e: MessageEvent) => {
          if (Array.isArray(e.data)) { for (const r of e.data) done(w, r); }
          else done(w, e.data);
          if (executed === g.n) resolve(outs);
          else pump();
        };
      });
      for (let i = 0; i < g.n; i++) if (indeg[i] === 0) ready.push(i);
      pump();
    });
  }
}

/**
 * Bare parse of a YAML file with npm:yaml (what any YAML-based tool pays at least).
 * Like orch's loader, it parses against an empty `process.env`, so npm:yaml's
 * per-token env reads (slow under Deno) do not inflate the floor.
 * @param text The YAML text.
 * @param reps Measured runs (after one warm-up).
 * @returns Median milliseconds.
 */
export function bareParseMs(text: string, reps: number): number {
  const env = process.env;
  const once = () => {
    process.env = {};
    try {
      parse(text);
    } finally {
      process.env = env;
    }
  };
  once();
  const times = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    once();
    times.push(performance.now() - t0);
  }
  return median(times);
}
