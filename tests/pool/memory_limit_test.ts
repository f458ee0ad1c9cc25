import assert from "node:assert/strict";
import {
  type JobOutcome,
  type MemorySuspect,
  type WorkerLike,
  WorkerPool,
} from "../../src/pool/mod.ts";
import type { WorkerSpec } from "../../src/pool/worker_pool.ts";
import type { FromWorker, ToWorker } from "../../src/pool/protocol.ts";
import type { WorkflowSource } from "../../src/workflows/registry.ts";

/** A worker that accepts jobs and never answers (a busy thread). */
class BusyWorker implements WorkerLike {
  onmessage: ((e: MessageEvent<FromWorker>) => void) | null = null;
  onerror: ((e: ErrorEvent) => void) | null = null;
  jobs = 0;
  terminated = false;
  constructor(readonly spec: WorkerSpec) {}
  postMessage(msg: ToWorker): void {
    if (msg.type === "jobs") this.jobs += msg.lengths.length;
  }
  terminate(): void {
    this.terminated = true;
  }
}

const hog: WorkflowSource = { kind: "builtin", name: "hog" };
const other: WorkflowSource = { kind: "builtin", name: "other" };
const job = (source: WorkflowSource, taskId: string) => ({
  source,
  params: {},
  runId: "r1",
  taskId,
  attempt: 1,
});
/** The outcome as a failure (asserting it is one). */
function failure(o: JobOutcome): Extract<JobOutcome, { ok: false }> {
  assert.ok(!o.ok, "the job failed");
  return o as Extract<JobOutcome, { ok: false }>;
}
const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

Deno.test("WorkerPool memory limit: fails the jobs running in threads, cancels the rest, closes", async () => {
  const workers: BusyWorker[] = [];
  let rssMb = 100;
  const incidents: { rssMb: number; limitMb: number; suspects: MemorySuspect[] }[] = [];
  const pool = new WorkerPool({
    size: 2,
    spawn: (spec) => {
      const w = new BusyWorker(spec);
      workers.push(w);
      return w;
    },
    memoryLimit: {
      limitMb: 400,
      intervalMs: 5,
      rssBytes: () => rssMb * 2 ** 20,
      onExceeded: (incident) => {
        incidents.push(incident);
        return "too much memory";
      },
    },
  });
  const runs = [job(hog, "a"), job(other, "b"), job(hog, "c")].map((j) => pool.run(j));
  await wait(30);
  assert.equal(incidents.length, 0, "under the limit nothing happens");
  rssMb = 450;
  // The watchdog's timer does not keep the process alive: wait with one that does.
  for (let i = 0; i < 200 && incidents.length === 0; i++) await wait(5);
  const [a, b, c] = (await Promise.all(runs)).map(failure);
  assert.equal(incidents.length, 1);
  assert.equal(Math.round(incidents[0].rssMb), 450);
  assert.equal(incidents[0].limitMb, 400);
  assert.deepEqual(incidents[0].suspects.map((s) => s.taskId), ["a", "b"]);
  assert.deepEqual(a.error, { name: "MemoryLimitError", message: "too much memory" });
  assert.deepEqual(b.error, { name: "MemoryLimitError", message: "too much memory" });
  assert.equal(c.cancelled, true, "the queued job is cancelled");
  assert.match(c.error!.message, /memory limit exceeded/);
  assert.ok(workers.every((w) => w.terminated));
  assert.equal(pool.leakedWorkers, 2);
  const later = failure(await pool.run(job(other, "d")));
  assert.equal(later.cancelled, true, "the pool is closed");
  await wait(20);
  assert.equal(incidents.length, 1, "the watchdog stopped");
  await pool.close();
});

Deno.test("WorkerPool memory limit: over the limit with no job in a thread, nothing is blamed", async () => {
  let calls = 0;
  const spawned: WorkerSpec[] = [];
  const pool = new WorkerPool({
    size: 1,
    spawn: (spec) => {
      spawned.push(spec);
      return new BusyWorker(spec);
    },
    isolate: (source) => source.name === "hog" ? { memoryMb: 32 } : undefined,
    memoryLimit: {
      limitMb: 10,
      intervalMs: 5,
      rssBytes: () => 500 * 2 ** 20,
      onExceeded: () => {
        calls++;
        return "";
      },
    },
  });
  // A quarantined workflow runs in a process: the watchdog does not blame it.
  const running = pool.run(job(hog, "a"));
  await wait(40);
  assert.equal(calls, 0);
  assert.deepEqual(spawned.map((s) => s.process), [{ memoryMb: 32 }]);
  await pool.close();
  assert.equal(failure(await running).cancelled, true);
});
