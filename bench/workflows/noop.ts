// The benchmark's no-op task (same as the peer harness's): returns {id, depth} with
// depth = 1 + the deepest upstream depth, read from the `<upstream>__depth` params, so a
// run proves that payloads flowed.
export default {
  description: "Benchmark no-op: returns its depth in the DAG",
  run(params: Record<string, unknown>, ctx: { taskId: string }) {
    let d = 0;
    for (const k in params) {
      const v = params[k];
      if (k.endsWith("__depth") && typeof v === "number" && v > d) d = v;
    }
    return { id: ctx.taskId, depth: d + 1 };
  },
};
