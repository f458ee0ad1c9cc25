import assert from "node:assert/strict";
import {
  type EventSink,
  executeDag,
  InlinePool,
  ManualClock,
  parseDag,
  prepareRun,
  WorkflowRegistry,
} from "../../mod.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";

/** Runs one DAG into `sink`; returns every line as written, times blanked. */
async function linesOf(sink: (lines: string[]) => EventSink): Promise<string[]> {
  const pool = new InlinePool({ size: 2 });
  const registry = await WorkflowRegistry.scan(FIXTURE_WORKFLOWS, []);
  const lines: string[] = [];
  try {
    const dag = parseDag(dagYaml('t"q', [
      { id: "a", workflow_ref: "echo", params: { x: 1, s: 'é\n"' } },
      { id: "b", workflow_ref: "flaky", params: { fail_times: 1 }, retries: 1 },
      { id: "c", workflow_ref: "echo", depends_on: ["a", "b"] },
      { id: "d", workflow_ref: "fail" },
      { id: "e", workflow_ref: "echo", depends_on: ["d"] },
    ]));
    const prepared = await prepareRun(dag, { registry, pool });
    await executeDag({
      ...prepared,
      pool,
      events: sink(lines),
      clock: new ManualClock(new Date("2026-01-01T00:00:00Z")),
      sleep: () => Promise.resolve(),
      random: () => 0.5,
      runId: "run-1",
      runParams: { day: "mon" },
    });
  } finally {
    await pool.close();
  }
  return lines.map((l) =>
    l.replace(/"timestamp":"[^"]+"/, '"timestamp":"T"').replace(
      /"duration_s":[0-9.e-]+/,
      '"duration_s":0',
    )
  );
}

Deno.test("executeDag() writes the same lines as text as it does as objects", async () => {
  const asObjects = await linesOf((lines) => ({
    append: (...e) => lines.push(...e.map((x) => JSON.stringify(x))),
  }));
  const asText = await linesOf((lines) => ({
    append: (...e) => lines.push(...e.map((x) => JSON.stringify(x))),
    appendLine: (line) => lines.push(line),
  }));
  assert.ok(asObjects.some((l) => l.includes('"event":"task_ok"')));
  assert.ok(asObjects.some((l) => l.includes('"event":"task_retry"')));
  assert.deepEqual(asText, asObjects);
  for (const l of asText) assert.equal(JSON.stringify(JSON.parse(l)), l);
});
