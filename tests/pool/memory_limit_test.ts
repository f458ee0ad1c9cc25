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

/** A worker that accepts jobs and answers only when told to (a busy thread). */
class BusyWorker implements WorkerLike {
  onmessage: ((e: MessageEvent<FromWorker>) => void) | null = null;
  onerror: ((e: ErrorEvent) => void) | null = null;
  ids: number[] = [];
  terminated = false;
  constructor(readonly spec: WorkerSpec) {}
  postMessage(msg: ToWorker): void {
    if (msg.type === "jobs") { for (const j of JSON.parse(msg.jobs)) this.ids.push(j.id); }
  }
  /** Reports the oldest job as done after 0.01 ms. */
  finishOne(): void {
    const id = this.ids.shift()!;
    this.onmessage?.({
      data: {
        type: "report",
        started: [],
        logs: [],
        ended: [id, 1000, 1000.01, 2],
        outputs: "{}",
        errors: [],
      },
    } as unknown as MessageEvent<FromWorker>);
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

type Incident = { rssMb: number; limitMb: number; suspects: MemorySuspect[] };

/** A pool of 2 busy workers whose RSS the test sets, recording incidents. */
function watchedPool() {
  const t = {
    workers: [] as BusyWorker[],
    rssMb: 100,
    incidents: [] as Incident[],
    contained: 0,
    stuck: 0,
  };
  const pool = new WorkerPool({
    size: 2,
    spawn: (spec) => {
      const w = new BusyWorker(spec);
      t.workers.push(w);
      return w;
    },
    memoryLimit: {
      limitMb: 400,
      intervalMs: 5,
      rssBytes: () => t.rssMb * 2 ** 20,
      graceMs: 40,
      onExceeded: (incident) => {
        t.incidents.push(incident);
        return "too much memory";
      },
      onContained: () => t.contained++,
      onStuck: () => t.stuck++,
    },
  });
  return Object.assign(t, { pool });
}

/** Waits (with a timer that keeps the test alive, unlike the watchdog's) until `done()`. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await wait(5);
}

Deno.test("WorkerPool memory limit: fails the suspects; RSS stays up: stuck, cancels the rest, closes", async () => {
  const t = watchedPool();
  const { pool, workers, incidents } = t;
  const runs = [job(hog, "a"), job(other, "b"), job(hog, "c")].map((j) => pool.run(j));
  await wait(30);
  assert.equal(incidents.length, 0, "under the limit nothing happens");
  t.rssMb = 450;
  await until(() => t.stuck > 0);
  const [a, b, c] = (await Promise.all(runs)).map(failure);
  assert.equal(incidents.length, 1);
  assert.equal(Math.round(incidents[0].rssMb), 450);
  assert.equal(incidents[0].limitMb, 400);
  assert.deepEqual(incidents[0].suspects.map((s) => s.taskId), ["a", "b"]);
  assert.deepEqual(a.error, { name: "MemoryLimitError", message: "too much memory" });
  assert.deepEqual(b.error, { name: "MemoryLimitError", message: "too much memory" });
  assert.equal(c.cancelled, true, "the job still waiting is cancelled");
  assert.match(c.error!.message, /memory limit exceeded/);
  assert.equal(t.contained, 0);
  assert.ok(workers.every((w) => w.terminated));
  assert.equal(pool.leakedWorkers, 2);
  const later = failure(await pool.run(job(other, "d")));
  assert.equal(later.cancelled, true, "the pool is closed");
  await wait(20);
  assert.equal(incidents.length + t.stuck, 2, "the watchdog stopped");
  await pool.close();
});

Deno.test("WorkerPool memory limit: RSS back under the limit: contained, the pool goes on", async () => {
  const t = watchedPool();
  const { pool, workers } = t;
  const first = pool.run(job(hog, "a"));
  await wait(10);
  t.rssMb = 450;
  await until(() => t.incidents.length > 0);
  const a = failure(await first);
  assert.equal(a.error.name, "MemoryLimitError");
  assert.equal(workers[0].terminated, true, "its worker was replaced");
  t.rssMb = 120; // the stopped thread's memory was freed
  await until(() => t.contained > 0);
  assert.equal(t.contained, 1);
  assert.equal(t.stuck, 0);
  const next = pool.run(job(other, "b"));
  await wait(10);
  assert.equal(workers.at(-1)!.ids.length, 1, "the next job went to a new worker");
  await pool.close();
  assert.equal(failure(await next).cancelled, true);
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
      onStuck: () => calls++,
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

Deno.test("WorkerPool memory limit: a job of a known-fast workflow beside a slow one is not blamed", async () => {
  const t = watchedPool();
  const { pool, workers } = t;
  // "other" shows itself fast (0.01 ms) in worker 0; then a hog job runs in worker 1 and
  // another "other" job sits in worker 0 when the limit is passed.
  const warm = pool.run(job(other, "warm"));
  await wait(1);
  workers[0].finishOne();
  await warm;
  const jobs = [pool.run(job(hog, "h")), pool.run(job(other, "o"))];
  await wait(1);
  t.rssMb = 500;
  await until(() => t.stuck > 0);
  const [h, o] = (await Promise.all(jobs)).map(failure);
  assert.deepEqual(t.incidents.map((i) => i.suspects.map((s) => s.taskId)), [["h"]]);
  assert.equal(h.error.name, "MemoryLimitError");
  assert.equal(o.cancelled, true);
  await pool.close();
});
