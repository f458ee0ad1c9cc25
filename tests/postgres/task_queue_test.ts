import assert from "node:assert/strict";
import type { Job, JobOutcome, TaskPool } from "../../src/pool/mod.ts";
import { QueuePool } from "../../src/store/postgres/task_queue.ts";
import { QueueWorker } from "../../src/store/postgres/queue_worker.ts";
import { pgTest } from "./_pg.ts";

/** A pool that answers every job with `{size}` bytes of output, without running anything. */
function fakePool(): TaskPool {
  return {
    size: 2,
    run(job: Job): Promise<JobOutcome> {
      const n = Number(job.params.size);
      const outputJson = JSON.stringify({ text: "x".repeat(n), who: job.taskId });
      const now = Date.now();
      return Promise.resolve({
        ok: true,
        output: JSON.parse(outputJson),
        outputJson,
        startedAt: now,
        endedAt: now,
      });
    },
    inspect: () => Promise.resolve([]),
    cancelRun: () => {},
    close: () => Promise.resolve(),
  };
}

pgTest(
  "QueuePool + QueueWorker: outcomes come back; an output past the limit fails the attempt clearly",
  async (scope) => {
    await scope.sql`insert into runs (run_id, dag_name, status) values ('r1', 'd', 'running')`;
    const submit = new QueuePool(scope.sql, { local: fakePool(), pollMs: 50 });
    await submit.open();
    const worker = new QueueWorker(scope.sql, fakePool(), { name: "w", maxOutputBytes: 100 });
    const stop = new AbortController();
    const serving = worker.serve(stop.signal);
    try {
      const job = (taskId: string, size: number): Job => ({
        source: { kind: "builtin", name: "noop" } as unknown as Job["source"],
        params: { size },
        runId: "r1",
        taskId,
        attempt: 1,
      });
      const [small, big] = await Promise.all([submit.run(job("a", 10)), submit.run(job("b", 500))]);
      assert.equal(small.ok, true);
      if (small.ok) assert.deepEqual(small.output, { text: "x".repeat(10), who: "a" });
      assert.equal(big.ok, false);
      if (!big.ok) {
        assert.equal(big.error.name, "OutputTooLargeError");
        assert.match(
          big.error.message,
          /^Cannot store the output of task "b" \(run "r1", attempt 1\): 521 bytes is over the queue's limit of 100 bytes$/,
        );
      }
      const rows = await scope.sql`select task_id, state from task_queue order by task_id`;
      assert.deepEqual(rows.map((r) => [r.task_id, r.state]), [["a", "done"], ["b", "failed"]]);
    } finally {
      stop.abort();
      await serving;
      await submit.close();
    }
  },
);
