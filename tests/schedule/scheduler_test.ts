import assert from "node:assert/strict";
import { ManualClock } from "../../src/lib/mod.ts";
import {
  type LaunchRun,
  type QueuedRun,
  Scheduler,
  type SchedulerDeps,
} from "../../src/schedule/mod.ts";
import type { RunStatus, StateStoreLike, Store } from "../../src/store/mod.ts";
import { testStore } from "../helpers/backend.ts";
import { testSchedule } from "../helpers/schedule.ts";

const NOW = new Date("2026-05-01T10:05:12Z");
const DEAD_PID = 4_194_400; // above Linux's largest pid_max: never a live process

const schedule = testSchedule;

/** A launcher whose runs end when the test says so (or when cancelled). */
function controlledLaunch() {
  const running = new Map<string, (s: RunStatus) => void>();
  let peak = 0;
  const launched: QueuedRun[] = [];
  const launch: LaunchRun = (run, signal) => {
    launched.push(run);
    return new Promise<RunStatus>((resolve) => {
      running.set(run.runId, resolve);
      peak = Math.max(peak, running.size);
      signal.addEventListener("abort", () => resolve("cancelled"), { once: true });
    }).finally(() => running.delete(run.runId));
  };
  const finishAll = (s: RunStatus = "success") => [...running.values()].forEach((r) => r(s));
  return { launch, launched, running, finishAll, peak: () => peak };
}

/** Runs `fn` with a store of the backend under test (JSONL files in a temp dir, or a schema). */
async function withStore(
  fn: (store: StateStoreLike, backend: Store) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "orch_sched_" });
  const ts = await testStore(dir, { clock: new ManualClock(NOW) });
  try {
    await fn(ts.store.state, ts.store);
  } finally {
    await ts.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
}

function deps(store: StateStoreLike, backend: Store, over: Partial<SchedulerDeps>): SchedulerDeps {
  return {
    store,
    schedules: [schedule("a")],
    clock: new ManualClock(NOW),
    sleep: () => Promise.resolve(),
    launch: () => Promise.resolve("success"),
    maxParallel: 2,
    backend,
    host: "testhost",
    ...over,
  };
}

async function events(store: StateStoreLike, name: string) {
  return (await store.lastRuns(1000)).filter((e) => e.event === name);
}

Deno.test("Scheduler.tick() enqueues due schedules once and runs at most maxParallel at once", async () => {
  await withStore(async (store, backend) => {
    const c = controlledLaunch();
    const schedules = ["a", "b", "c"].map((id) => schedule(id));
    const s = new Scheduler(deps(store, backend, { schedules, launch: c.launch, maxParallel: 2 }));
    const report = await s.tick(NOW);
    assert.equal(report.enqueued.length, 3);
    assert.deepEqual(s.pending, { active: 2, waiting: 1 });
    const again = await s.tick(new Date(NOW.getTime() + 20_000));
    assert.equal(again.enqueued.length, 0, "second tick in the same minute enqueues nothing");
    const drained = s.drain();
    while (c.running.size > 0 || s.pending.waiting > 0) {
      c.finishAll();
      await new Promise((r) => setTimeout(r, 0));
    }
    await drained;
    assert.equal(c.peak(), 2);
    assert.deepEqual(c.launched.map((r) => r.scheduleId), ["a", "b", "c"]);
    assert.deepEqual(c.launched[0].params, { who: "a" });
    const enq = await events(store, "schedule_enqueued");
    assert.equal(enq.length, 3);
    assert.ok(enq.every((e) => typeof e.run_id === "string" && e.host === "testhost"));
    assert.deepEqual(s.outcomes.map((o) => o.status), ["success", "success", "success"]);
  });
});

Deno.test("Scheduler.tick() skips a minute whose previous run is unfinished (overlap: skip)", async () => {
  await withStore(async (store, backend) => {
    const lock = await backend.liveness.acquire("old-run");
    try {
      await store.recordEvent({
        event: "run_started",
        run_id: "old-run",
        schedule_id: "a",
        dag_name: "d",
        tenant_id: "t",
        trigger: "schedule",
        pid: Deno.pid,
        host: "testhost",
      });
      const s = new Scheduler(deps(store, backend, {}));
      const report = await s.tick(NOW);
      assert.equal(report.enqueued.length, 0);
      assert.equal(report.skipped[0].reason, "overlap");
      assert.equal(report.recovered.length, 0);
    } finally {
      lock.release();
    }
  });
});

Deno.test("Scheduler.tick() records a dead run as interrupted, not a live or foreign one", async () => {
  await withStore(async (store, backend) => {
    const started = (run_id: string, pid: number, host = "testhost") =>
      store.recordEvent({
        event: "run_started",
        run_id,
        dag_name: "d",
        tenant_id: "t",
        trigger: "manual",
        pid,
        host,
      });
    await started("dead", DEAD_PID);
    await started("locked", DEAD_PID);
    await started("foreign", DEAD_PID, "otherhost");
    const lock = await backend.liveness.acquire("locked");
    try {
      const s = new Scheduler(deps(store, backend, { schedules: [] }));
      const report = await s.tick(NOW);
      assert.deepEqual(report.recovered.map((r) => r.runId), ["dead"]);
      const fin = await events(store, "run_finished");
      assert.equal(fin.length, 1);
      assert.equal(fin[0].run_id, "dead");
      assert.equal(fin[0].status, "interrupted");
      assert.match(String(fin[0].reason), /process 4194400 on "testhost" is gone/);
      const second = await new Scheduler(deps(store, backend, { schedules: [] })).tick(NOW);
      assert.equal(second.recovered.length, 0, "recovered once only");
    } finally {
      lock.release();
    }
  });
});

Deno.test("Scheduler.shutdown() lets runs finish within the grace period", async () => {
  await withStore(async (store, backend) => {
    const c = controlledLaunch();
    const s = new Scheduler(deps(store, backend, {
      launch: c.launch,
      sleep: (_ms, signal) =>
        new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason))),
    }));
    await s.tick(NOW);
    const stopping = s.shutdown({ graceMs: 1000 });
    c.finishAll("success");
    await stopping;
    assert.deepEqual(s.outcomes.map((o) => o.status), ["success"]);
  });
});

Deno.test("Scheduler.shutdown() cancels running runs after the grace period and records unstarted ones", async () => {
  await withStore(async (store, backend) => {
    const c = controlledLaunch();
    const schedules = [schedule("a"), schedule("b")];
    const graces: number[] = [];
    const s = new Scheduler(deps(store, backend, {
      schedules,
      launch: c.launch,
      maxParallel: 1,
      sleep: (ms) => {
        graces.push(ms);
        return Promise.resolve();
      },
    }));
    await s.tick(NOW);
    assert.deepEqual(s.pending, { active: 1, waiting: 1 });
    await s.shutdown({ graceMs: 250 });
    assert.deepEqual(graces, [250]);
    const byStatus = s.outcomes.map((o) => `${o.run.scheduleId}:${o.status}`).sort();
    assert.deepEqual(byStatus, ["a:cancelled", "b:cancelled"]);
    const fin = await events(store, "run_finished");
    assert.deepEqual(fin.map((e) => e.schedule_id), ["b"], "the unstarted run is recorded");
    assert.equal(c.launched.length, 1);
  });
});

Deno.test("Scheduler.serve() ticks at start-up and after each sleep until stopped", async () => {
  await withStore(async (store, backend) => {
    const stop = new AbortController();
    const clock = new ManualClock(NOW);
    let sleeps = 0;
    const s: Scheduler = new Scheduler(deps(store, backend, {
      clock,
      launch: async (run) => {
        await store.recordEvent({
          event: "run_finished",
          run_id: run.runId,
          schedule_id: run.scheduleId,
          dag_name: run.dagName,
          status: "success",
          duration_s: 0,
          tasks_succeeded: 0,
          tasks_failed: 0,
          tasks_skipped: 0,
        });
        return "success";
      },
      sleep: async (ms) => {
        if (ms !== 1000) return; // the shutdown grace period
        await s.drain(); // the minute's run ends before the next tick (else: overlap skip)
        sleeps++;
        clock.advance(60_000);
        if (sleeps === 3) stop.abort("test");
      },
    }));
    await s.serve({ tickMs: 1000, stop: stop.signal, graceMs: 10 });
    await s.drain();
    const enq = await events(store, "schedule_enqueued");
    assert.deepEqual(enq.map((e) => e.minute), [
      "2026-05-01T10:05",
      "2026-05-01T10:06",
      "2026-05-01T10:07",
    ]);
  });
});
