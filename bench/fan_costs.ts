/**
 * What a fan_10000 run must do that the batch floor does not (issue 5): write its 20,000
 * task event lines and build the fan-in task's 19,996 `<upstream>__<key>` params. Writes
 * the lines through {@link EventLog} as text, the way the executor builds them
 * (`src/run/executor.ts`, `taskStarted` / `settle`), flushing every 256 tasks, then builds
 * and serialises the params; five repetitions in one fresh process, so the first is what
 * a CLI run pays (cold) and the last what a warm engine pays.
 *
 * `deno run -A bench/fan_costs.ts [--n 10000]`. Not part of CI.
 * @module
 */
import { parseArgs } from "node:util";
import { EventLog } from "../src/store/event_log.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { n: { type: "string", default: "10000" } },
});
const n = Number(values.n);
const dir = await Deno.makeTempDir({ prefix: "orch-fan-costs-" });
const tail = `,"run_id":"0b7f9c1e-2f1a-4c1e-9d3b-8a1b2c3d4e5f","dag_name":"fan_${n}",` +
  `"tenant_id":"bench","v":1}`;
try {
  for (let rep = 1; rep <= 5; rep++) {
    const path = `${dir}/events${rep}.jsonl`;
    const log = new EventLog(path);
    await log.open();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const id = JSON.stringify(`t${i}`);
      const at = new Date(1e12 + i).toISOString();
      log.appendLine(
        `{"timestamp":"${at}","event":"task_start","task_id":${id},"attempt":1,` +
          `"workflow_ref":"noop"${tail}`,
      );
      log.appendLine(
        `{"timestamp":"${at}","event":"task_ok","task_id":${id},"attempt":1,"duration_s":0,` +
          `"output":{"id":"t${i}","depth":1}${tail}`,
      );
      if (i % 256 === 255) await log.flush();
    }
    await log.close();
    const t1 = performance.now();
    const params: Record<string, unknown> = {};
    for (let i = 0; i < n - 2; i++) {
      params[`t${i}__id`] = `t${i}`;
      params[`t${i}__depth`] = 1;
    }
    const json = JSON.stringify(params);
    const t2 = performance.now();
    const mb = (await Deno.stat(path)).size / 1e6;
    console.log(
      `rep ${rep}: ${2 * n} event lines (${mb.toFixed(1)} MB) ${(t1 - t0).toFixed(1)} ms; ` +
        `fan-in params (${2 * (n - 2)} keys, ${json.length} B of JSON) ${(t2 - t1).toFixed(1)} ms`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
