import assert from "node:assert/strict";
import {
  type FollowHandler,
  type Job,
  type JobOutcome,
  type WorkerLike,
  WorkerPool,
} from "../../src/pool/mod.ts";
import type { FromWorker, JobRequest, ToWorker, WireJob } from "../../src/pool/protocol.ts";
import { SerialJobRunner } from "../../src/pool/_serial_runner.ts";
import { WorkflowLoader } from "../../src/pool/_workflow_loader.ts";
import type { WorkflowSource } from "../../src/workflows/registry.ts";

/** A worker the test drives by hand: it records what it is sent and reports on demand. */
class FakeWorker implements WorkerLike {
  onmessage: ((e: MessageEvent<FromWorker>) => void) | null = null;
  onerror: ((e: ErrorEvent) => void) | null = null;
  batches: JobRequest[][] = [];
  aborts: number[] = [];
  postMessage(msg: ToWorker): void {
    if (msg.type === "jobs") {
      const sources = JSON.parse(msg.sources) as WorkflowSource[];
      const jobs = JSON.parse(msg.jobs) as WireJob[];
      this.batches.push(jobs.map(({ s, ...j }) => ({ ...j, source: sources[s] })));
    } else if (msg.type === "abort") this.aborts.push(msg.id);
  }
  terminate(): void {}
  report(r: Partial<Extract<FromWorker, { type: "report" }>>): void {
    const data = {
      type: "report",
      started: [],
      logs: [],
      ended: [],
      outputs: "",
      errors: [],
      ...r,
    };
    this.onmessage?.({ data } as unknown as MessageEvent<FromWorker>);
  }
}

const source: WorkflowSource = { kind: "builtin", name: "noop" };
const job = (taskId: string, extra = {}) => ({
  source,
  params: {},
  runId: "r",
  taskId,
  attempt: 1,
  ...extra,
});
const turn = () => new Promise<void>((r) => setTimeout(r, 0));

/** A handler that records its calls as `<name>:<call>`. */
function recorder(calls: string[], name: string): FollowHandler {
  return {
    onStart: () => calls.push(`${name}:start`),
    onLog: (m) => calls.push(`${name}:log ${m}`),
    onDone: (o: JobOutcome) => calls.push(`${name}:${o.ok ? "ok" : o.error.name}`),
    onDropped: () => calls.push(`${name}:dropped`),
  };
}

/** A one-worker pool; `link(job)` submits a link, `follow(after, job)` a continuation. */
function setup() {
  const fake = new FakeWorker();
  const pool = new WorkerPool({ size: 1, spawn: () => fake });
  const calls: string[] = [];
  return {
    fake,
    pool,
    calls,
    link: (j: Job) => pool.submitLink(j, recorder(calls, j.taskId)),
    follow: (after: Job, j: Job) => pool.follow(after, j, recorder(calls, j.taskId)),
  };
}

Deno.test("WorkerPool.follow() sends a continuation with the job it follows", async (t) => {
  await t.step("in one batch; a chain report reaches handlers in the order jobs ran", async () => {
    const { fake, pool, calls, link, follow } = setup();
    const a = job("a");
    const b = job("b");
    link(a);
    assert.equal(follow(a, b), true);
    await turn();
    assert.equal(fake.batches.length, 1);
    const [ja, jb] = fake.batches[0];
    assert.equal(ja.link, true);
    assert.equal(jb.after, ja.id);
    assert.equal(jb.taskId, "b");
    fake.report({
      chain: true,
      ended: [ja.id, 1, 2, 2, jb.id, 2, 3, 2],
      outputs: "{}{}",
      logs: [{ id: jb.id, at: 2, message: "hi" }],
    });
    await turn();
    assert.deepEqual(calls, ["a:start", "a:ok", "b:start", "b:log hi", "b:ok"]);
    await pool.close();
  });

  await t.step("later, on its own, when the job it follows was already sent", async () => {
    const { fake, pool, link, follow } = setup();
    const a = job("a");
    link(a);
    await turn();
    const b = job("b");
    assert.equal(follow(a, b), true);
    await turn();
    assert.equal(fake.batches.length, 2);
    assert.equal(fake.batches[1][0].after, fake.batches[0][0].id);
    await pool.close();
  });

  await t.step("not after the job ended, not twice, not into another kind of worker", async () => {
    const { fake, pool, link, follow } = setup();
    const a = job("a");
    link(a);
    const proc = { ...source, isolation: { process: {} } } as WorkflowSource;
    assert.equal(follow(a, job("p", { source: proc })), false);
    assert.equal(follow(a, job("b")), true);
    assert.equal(follow(a, job("c")), false);
    await turn();
    const [ja] = fake.batches[0];
    fake.report({ ended: [ja.id, 1, 2, 2], outputs: "{}" });
    assert.equal(follow(a, job("d")), false);
    await pool.close();
  });
});

Deno.test("WorkerPool drops continuations whose predecessor did not succeed", async (t) => {
  await t.step("failed in the worker: dropped, never started", async () => {
    const { fake, pool, calls, link, follow } = setup();
    const a = job("a");
    const b = job("b");
    link(a);
    follow(a, b);
    follow(b, job("c"));
    await turn();
    const [ja, jb, jc] = fake.batches[0];
    fake.report({
      ended: [ja.id, 1, 2, -1],
      errors: [{ name: "Error", message: "boom" }],
      dropped: [jb.id, jc.id],
    });
    await turn();
    assert.deepEqual(calls, ["a:start", "a:Error", "b:dropped", "c:dropped"]);
    await pool.close();
  });

  await t.step("timed out on this thread: dropped, not sent again", async () => {
    const { fake, pool, calls, link, follow } = setup();
    const a = job("a", { timeoutMs: 30 });
    link(a);
    follow(a, job("b"));
    await turn();
    fake.report({ started: [{ id: fake.batches[0][0].id, at: Date.now() }] });
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(calls, ["a:start", "a:TimeoutError", "b:dropped"]);
    await pool.close();
  });

  await t.step("cancelled: queued ones dropped, sent ones aborted in the worker", async () => {
    const { fake, pool, calls, link, follow } = setup();
    const a = job("a");
    const b = job("b");
    link(a);
    follow(a, b);
    await turn();
    const [ja, jb] = fake.batches[0];
    pool.cancelRun("r", "stop");
    assert.deepEqual(fake.aborts, [ja.id, jb.id]);
    fake.report({ ended: [ja.id, 1, 2, -1], errors: [{ name: "AbortError", message: "x" }] });
    await turn();
    assert.deepEqual(calls, ["a:start", "a:AbortError", "b:dropped"]);

    const c = job("c");
    link(c);
    follow(c, job("d"));
    await pool.close();
    await turn();
    assert.deepEqual(
      calls.slice(3),
      ["c:CancelledError", "d:dropped"],
    );
  });
});

Deno.test("SerialJobRunner runs a continuation right after its predecessor succeeds", async (t) => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/link.js`,
    `export default { run(p, ctx) {
      if (p.fail) throw new Error("no");
      return { n: (p.a__n ?? p.b__n ?? 0) + 1, keys: Object.keys(p).sort() };
    } };\n`,
  );
  const src = {
    kind: "file" as const,
    name: "link",
    path: `${dir}/link.js`,
    url: `file://${dir}/link.js`,
  };
  const send = (runner: SerialJobRunner, jobs: Record<string, unknown>[]) => {
    const texts = jobs.map((j) =>
      JSON.stringify({ s: 0, runId: "r", attempt: 1, params: {}, ...j })
    );
    runner.handle({
      type: "jobs",
      sources: JSON.stringify([src]),
      jobs: `[${texts.join(",")}]`,
      lengths: texts.map((x) => x.length),
    });
  };
  const settle = async (posted: FromWorker[], ends: number) => {
    for (let i = 0; i < 200; i++) {
      const n = posted.reduce((k, m) => k + (m.type === "report" ? m.ended.length / 4 : 0), 0);
      if (n >= ends) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    await new Promise((r) => setTimeout(r, 5));
  };
  const reports = (posted: FromWorker[]) =>
    posted.filter((m): m is Extract<FromWorker, { type: "report" }> => m.type === "report");
  try {
    await t.step("with its predecessor's output merged; the report says so", async () => {
      const posted: FromWorker[] = [];
      const runner = new SerialJobRunner(new WorkflowLoader({}), (m) => posted.push(m));
      send(runner, [
        { id: 1, taskId: "a", link: true },
        { id: 2, taskId: "b", after: 1, params: { own: 1 } },
        { id: 3, taskId: "c", after: 2 },
      ]);
      await settle(posted, 3);
      const rs = reports(posted);
      const ended = rs.flatMap((m) => m.ended.filter((_, k) => k % 4 === 0));
      assert.deepEqual(ended, [1, 2, 3]);
      const outputs = JSON.parse(`[${rs.map((m) => m.outputs.replaceAll("}{", "},{")).join(",")}]`);
      assert.deepEqual(outputs.map((o: { n: number }) => o.n), [1, 2, 3]);
      assert.deepEqual(outputs[1].keys, ["a__keys", "a__n", "own"]);
      assert.ok(rs.some((m) => m.chain), "a report with continuations is flagged");
    });

    await t.step("dropped when its predecessor fails, or when aborted first", async () => {
      const posted: FromWorker[] = [];
      const runner = new SerialJobRunner(new WorkflowLoader({}), (m) => posted.push(m));
      send(runner, [
        { id: 1, taskId: "a", link: true, params: { fail: true } },
        { id: 2, taskId: "b", after: 1 },
        { id: 3, taskId: "c", after: 2 },
      ]);
      await settle(posted, 1);
      assert.deepEqual(reports(posted).flatMap((m) => m.dropped ?? []), [2, 3]);
      // A continuation of a job that ended failed, arriving late, is dropped too.
      send(runner, [{ id: 4, taskId: "d", after: 1 }]);
      await settle(posted, 1);
      assert.deepEqual(reports(posted).flatMap((m) => m.dropped ?? []), [2, 3, 4]);

      posted.length = 0;
      send(runner, [
        { id: 5, taskId: "a", link: true },
        { id: 6, taskId: "b", after: 5 },
      ]);
      // Arriving late, after its predecessor ended well, it still runs.
      await settle(posted, 1);
      send(runner, [{ id: 7, taskId: "c", after: 6 }]);
      await settle(posted, 3);
      const ended = reports(posted).flatMap((m) => m.ended.filter((_, k) => k % 4 === 0));
      assert.deepEqual(ended, [5, 6, 7]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
