import assert from "node:assert/strict";
import { findMemoryStoppedRuns } from "../../src/run/continue.ts";
import type { StateStoreLike, TaskEventReader } from "../../src/store/store.ts";
import type { StoredEvent } from "../../src/store/state_events.ts";

const CULPRIT = 'Workflow "hog" exceeded the memory limit in a worker thread (RSS 417 MB > ' +
  "ORCH_MEMORY_LIMIT_MB 400); quarantined: its later attempts run in a memory-capped process";
const CANCELLED = "Cancelled: orch is stopping (memory limit exceeded)";

/** A state store and task log holding `state` (oldest first) and `tasks` by run. */
function fakeStore(state: Partial<StoredEvent>[], tasks: Record<string, Partial<StoredEvent>[]>) {
  let t = Date.parse("2026-11-26T12:00:00Z");
  const lines = state.map((e) => ({ v: 1, timestamp: new Date(t += 1000).toISOString(), ...e }));
  return {
    state: {
      async *scanBackward() {
        for (const e of [...lines].reverse()) yield e as StoredEvent;
      },
    } as unknown as StateStoreLike,
    taskEvents: {
      async *scanRun(runId: string) {
        const evs = [{ event: "dag_start" }, ...(tasks[runId] ?? [])].map((e) => ({
          ...e,
          run_id: runId,
        }));
        for (const e of evs.reverse()) yield e as StoredEvent;
      },
    } as TaskEventReader,
  };
}

const started = (runId: string, pid: number, extra: Record<string, unknown> = {}) => ({
  event: "run_started",
  run_id: runId,
  pid,
  host: "h",
  ...extra,
});
const finished = (runId: string, status: string) => ({
  event: "run_finished",
  run_id: runId,
  status,
});
const fail = (taskId: string, error: string) => ({ event: "task_fail", task_id: taskId, error });

Deno.test("findMemoryStoppedRuns() picks the stopped process's runs that the memory stop ended, not yet retried", async () => {
  const store = fakeStore(
    [
      started("old", 7), // before `since`: not looked at
      finished("old", "failed"),
      started("culprit", 7),
      started("bystander", 7),
      started("ok", 7),
      started("other_failure", 7),
      started("other_process", 8),
      started("retried", 7),
      started("unfinished", 7),
      finished("culprit", "failed"),
      finished("bystander", "interrupted"),
      finished("ok", "success"),
      finished("other_failure", "failed"),
      finished("other_process", "failed"),
      finished("retried", "failed"),
      started("retry1", 9, { retry_of: "retried", trigger: "retry" }),
    ],
    {
      old: [fail("x", CULPRIT)],
      culprit: [{ event: "task_ok", task_id: "a" }, fail("hog", CULPRIT)],
      bystander: [fail("slow", CANCELLED)],
      other_failure: [fail("x", "boom")],
      other_process: [fail("x", CANCELLED)],
      retried: [fail("x", CANCELLED)],
    },
  );
  const found = await findMemoryStoppedRuns(store, {
    pid: 7,
    host: "h",
    since: "2026-11-26T12:00:02.500Z",
  });
  assert.deepEqual(found, { runIds: ["culprit", "bystander"], unfinished: 1 });
});

Deno.test("findMemoryStoppedRuns() ignores runs of the same pid on another host", async () => {
  const store = fakeStore([started("r", 7), finished("r", "failed")], {
    r: [fail("hog", CULPRIT)],
  });
  const since = "2026-11-26T12:00:00Z";
  assert.deepEqual(
    (await findMemoryStoppedRuns(store, { pid: 7, host: "elsewhere", since })).runIds,
    [],
  );
  assert.deepEqual((await findMemoryStoppedRuns(store, { pid: 7, host: "h", since })).runIds, [
    "r",
  ]);
});
