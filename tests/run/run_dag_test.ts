import assert from "node:assert/strict";
import { join } from "node:path";
import {
  indexBy,
  InlinePool,
  lastRuns,
  listRuns,
  loadDag,
  ManualClock,
  planRetry,
  prepareRun,
  recordEvent,
  runDag,
  RunNotFoundError,
  RunNotRetryableError,
  WorkflowRegistry,
} from "../../mod.ts";
import { isMarkedAlive, testStore } from "../helpers/backend.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "orch_rundag_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("runDag() records run_started and run_finished and holds the run lock while running", async () => {
  await withDir(async (dir) => {
    const dagFile = join(dir, "d.yaml");
    // The task sleeps, so a lock check started at its task_start ends while the run still runs.
    await Deno.writeTextFile(
      dagFile,
      dagYaml("d", [{ id: "a", workflow_ref: "sleep", params: { ms: 200 } }]),
    );
    const pool = new InlinePool({ size: 1 });
    const ts = await testStore(dir);
    const { state: store, liveness, taskEvents } = ts.store;
    const events = ts.store.openEventLog();
    try {
      const registry = await WorkflowRegistry.scan(FIXTURE_WORKFLOWS, []);
      const prepared = await prepareRun(await loadDag(dagFile), { registry, pool });
      const held: boolean[] = [];
      const clock = new ManualClock(new Date("2026-01-01T00:00:00Z"));
      const result = await runDag(prepared, {
        pool,
        events,
        store,
        liveness,
        clock,
        sleep: () => Promise.resolve(),
      }, {
        runId: "r1",
        trigger: "schedule",
        scheduleId: "s",
        minute: "2026-01-01T00:00",
        runParams: { k: 1 },
        onEvent: (e) => {
          if (e.event === "task_start") {
            isMarkedAlive(ts, dir, "r1").then((h) => held.push(h));
          }
        },
      });
      assert.equal(result.status, "success");
      const state = await store.lastRuns();
      assert.deepEqual(state.map((e) => e.event), ["run_started", "run_finished"]);
      assert.equal(state[0].host, Deno.hostname());
      assert.equal(state[0].pid, Deno.pid);
      assert.deepEqual(state[0].params, { k: 1 });
      assert.equal(state[0].dag, dagFile);
      assert.equal(state[1].status, "success");
      assert.equal(state[1].tasks_succeeded, 1);
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(held.length > 0 && held.every(Boolean), "lock held during the run");
      assert.equal(await isMarkedAlive(ts, dir, "r1"), false);
      const rows = await listRuns(store);
      assert.equal(rows[0].status, "success");
      assert.equal(rows[0].schedule_id, "s");
      await assert.rejects(planRetry("r1", { store, taskEvents }), RunNotRetryableError);
      await assert.rejects(planRetry("nope", { store, taskEvents }), RunNotFoundError);
    } finally {
      await events.close();
      await pool.close();
      await ts.cleanup();
    }
  });
});

Deno.test("planRetry() reuses the outputs of the tasks that succeeded", async () => {
  await withDir(async (dir) => {
    const dagFile = join(dir, "d.yaml");
    await Deno.writeTextFile(
      dagFile,
      dagYaml("d", [
        { id: "a", workflow_ref: "echo", params: { x: 1 } },
        {
          id: "b",
          workflow_ref: "fail_first_time",
          params: { marker: join(dir, "m") },
          depends_on: ["a"],
        },
      ]),
    );
    const pool = new InlinePool({ size: 1 });
    const ts = await testStore(dir);
    const { state: store, liveness, taskEvents } = ts.store;
    const events = ts.store.openEventLog();
    try {
      const registry = await WorkflowRegistry.scan(FIXTURE_WORKFLOWS, []);
      const deps = {
        pool,
        events,
        store,
        liveness,
        clock: new ManualClock(new Date()),
        sleep: () => Promise.resolve(),
      };
      const first = await runDag(await prepareRun(dagFile, { registry, pool }), deps, {
        runId: "r1",
      });
      assert.equal(first.status, "failed");
      const plan = await planRetry("r1", { store, taskEvents });
      assert.equal(plan.dagPath, dagFile);
      assert.deepEqual([...plan.reuse], [["a", { x: 1 }]]);
      const retry = await runDag(await prepareRun(plan.dagPath, { registry, pool }), deps, {
        trigger: "retry",
        retryOf: "r1",
        reuse: plan.reuse,
      });
      assert.equal(retry.status, "success");
      assert.deepEqual(retry.tasks.map((t) => [t.id, t.attempts, t.reusedFrom]), [
        ["a", 0, "r1"],
        ["b", 1, undefined],
      ]);
      const rows = await listRuns(store);
      assert.equal(rows[0].retry_of, "r1");
      assert.equal(rows[0].trigger, "retry");
    } finally {
      await events.close();
      await pool.close();
      await ts.cleanup();
    }
  });
});

Deno.test("recordEvent(), lastRuns() and indexBy() work through mod.ts", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "state.jsonl");
    const written = await recordEvent({
      event: "run_finished",
      status: "success",
      schedule_id: "s",
    }, {
      path,
    });
    assert.equal(written.event, "run_finished");
    assert.equal(typeof written.timestamp, "string");
    await recordEvent({ event: "schedule_enqueued", schedule_id: "t" }, { path });
    const last = await lastRuns(20, { path });
    assert.deepEqual(last.map((e) => e.schedule_id), ["s", "t"]);
    const idx = await indexBy("schedule_id", 100, { path });
    assert.deepEqual(Object.keys(idx).sort(), ["s", "t"]);
    assert.equal(idx.s[0].status, "success");
  });
});
