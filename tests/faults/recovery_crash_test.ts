/**
 * Crash windows of crash recovery itself, replayed deterministically: a process that
 * records a dead run `interrupted` and dies right after its state transaction commits
 * (found by kill_scheduler_test: the run's task-level log was never closed, and no later
 * process would close it, since the run no longer looked unfinished), and a tick killed
 * after taking its runs' locks but before committing (their lock files stayed forever).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { EventLog, ManualClock, StateStore } from "../../mod.ts";
import {
  acquireRunLock,
  recoverDeadRuns,
  recoverInTransaction,
  runLockPath,
  STALE_LOCK_MS,
} from "../../src/run/mod.ts";
import { strictJsonl } from "./_fault.ts";

const NOW = new Date("2026-05-01T10:00:00Z");
const DEAD_PID = 4_194_400; // above Linux's largest pid_max: never a live process

/** A run started by a dead process, with a task done, and the probe that finds it dead. */
async function deadRun(dir: string) {
  const clock = new ManualClock(NOW);
  const store = new StateStore(join(dir, "state.jsonl"), { clock });
  const events = join(dir, "events.jsonl");
  await store.recordEvent({
    event: "run_started",
    run_id: "r1",
    dag_name: "d",
    tenant_id: "t",
    trigger: "manual",
    pid: DEAD_PID,
    host: "h",
  });
  const log = new EventLog(events);
  const base = { timestamp: NOW.toISOString(), run_id: "r1", v: 1 };
  log.append(
    { ...base, event: "dag_start", dag_name: "d", tenant_id: "t" },
    { ...base, event: "task_start", task_id: "a", attempt: 1 },
    { ...base, event: "task_ok", task_id: "a", attempt: 1, output: {} },
  );
  await log.close();
  await Deno.mkdir(join(dir, "runs"));
  await Deno.writeTextFile(runLockPath(join(dir, "runs"), "r1"), "");
  const probe = { host: "h", runsDir: join(dir, "runs"), clock, eventsPath: events };
  return { store, events, probe };
}

Deno.test("recoverInTransaction() closes the run's task log before its run_finished commits", async () => {
  const dir = await Deno.makeTempDir({ prefix: "orch_fault_" });
  try {
    const { store, events, probe } = await deadRun(dir);
    // The recovering process commits and dies before doing anything else.
    const first = await store.transaction((tx) => recoverInTransaction(tx, probe));
    assert.equal(first.recovered.length, 1);
    // The next process finds nothing left to recover.
    assert.deepEqual(await recoverDeadRuns(store, probe), []);
    const done = (await strictJsonl(events)).filter((e) => e.event === "dag_done");
    assert.equal(done.length, 1, "the task-level log has its dag_done");
    assert.equal(done[0].status, "interrupted");
    assert.equal(done[0].tasks_succeeded, 1);
    const fin = (await strictJsonl(store.path)).filter((e) => e.event === "run_finished");
    assert.equal(fin.length, 1);
    assert.equal(fin[0].status, "interrupted");
    await assert.rejects(Deno.stat(runLockPath(join(dir, "runs"), "r1")), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a recovery that dies after closing the task log but before committing is finished once by the next one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "orch_fault_" });
  try {
    const { store, events, probe } = await deadRun(dir);
    // Dies inside the transaction, after its reads and side effects, before the commit.
    const crash = new Error("killed");
    await assert.rejects(
      store.transaction(async (tx) => {
        await recoverInTransaction(tx, probe);
        throw crash;
      }),
      (err) => err === crash,
    );
    assert.equal((await recoverDeadRuns(store, probe)).length, 1);
    assert.equal((await strictJsonl(events)).filter((e) => e.event === "dag_done").length, 1);
    const fin = (await strictJsonl(store.path)).filter((e) => e.event === "run_finished");
    assert.equal(fin.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recovery removes the lock files a tick killed before its commit left, and only those", async () => {
  const dir = await Deno.makeTempDir({ prefix: "orch_fault_" });
  try {
    const { store, probe } = await deadRun(dir);
    const runs = probe.runsDir;
    const old = new Date(NOW.getTime() - STALE_LOCK_MS - 1000);
    // Killed mid-tick: lock files of runs never enqueued, no longer held.
    for (const id of ["orphan-1", "orphan-2"]) {
      await Deno.writeTextFile(runLockPath(runs, id), "");
      await Deno.utime(runLockPath(runs, id), old, old);
    }
    // Just created (its process may not have locked it yet), and one held by a live run.
    await Deno.writeTextFile(runLockPath(runs, "fresh"), "");
    await Deno.utime(runLockPath(runs, "fresh"), NOW, NOW);
    const held = await acquireRunLock(runs, "held");
    try {
      await Deno.utime(held.path, old, old);
      await recoverDeadRuns(store, probe);
      const left = (await Array.fromAsync(Deno.readDir(runs))).map((e) => e.name).sort();
      assert.deepEqual(left, ["fresh.lock", "held.lock"]);
    } finally {
      held.release();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
