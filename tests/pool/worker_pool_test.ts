import assert from "node:assert/strict";
import { InlinePool, type JobOutcome, type WorkerLike, WorkerPool } from "../../src/pool/mod.ts";
import type { FromWorker, JobRequest, ToWorker, WireJob } from "../../src/pool/protocol.ts";
import type { WorkflowSource } from "../../src/workflows/registry.ts";

/** A worker the test drives by hand: it records job messages and replies on demand. */
class FakeWorker implements WorkerLike {
  onmessage: ((e: MessageEvent<FromWorker>) => void) | null = null;
  onerror: ((e: ErrorEvent) => void) | null = null;
  batches: JobRequest[][] = [];
  postMessage(msg: ToWorker): void {
    if (msg.type === "jobs") {
      const sources = JSON.parse(msg.sources) as WorkflowSource[];
      const jobs = JSON.parse(msg.jobs) as WireJob[];
      this.batches.push(jobs.map(({ s, ...j }) => ({ ...j, source: sources[s] })));
    }
  }
  terminate(): void {}
  finish(job: JobRequest, ms: number): void {
    const startedAt = 1_000;
    this.onmessage?.({
      data: {
        type: "report",
        started: [],
        logs: [],
        ended: [job.id, startedAt, startedAt + ms, 2],
        outputs: "{}",
        errors: [],
      },
    } as unknown as MessageEvent<FromWorker>);
  }
}

const source: WorkflowSource = { kind: "builtin", name: "noop" };
const job = (taskId: string) => ({ source, params: {}, runId: "r", taskId, attempt: 1 });
const turn = () => new Promise<void>((r) => setTimeout(r, 0));

Deno.test("WorkerPool pipelines jobs of a workflow once it has measured fast", async (t) => {
  const fakes = [new FakeWorker(), new FakeWorker()];
  let spawned = 0;
  const pool = new WorkerPool({ size: 2, spawn: () => fakes[spawned++] });
  const first = [pool.run(job("a")), pool.run(job("b"))];
  await turn();
  assert.deepEqual(fakes.map((f) => f.batches.map((b) => b.length)), [[1], [1]]);

  await t.step("jobs dispatched while unmeasured do not block pipelining later", async () => {
    // Both were dispatched as "not known fast"; the second ends after the first made
    // the workflow fast. Each slot must still be free for pipelining afterwards.
    fakes[0].finish(fakes[0].batches[0][0], 0.01);
    fakes[1].finish(fakes[1].batches[0][0], 0.01);
    await Promise.all(first);
    const more = ["c", "d", "e", "f"].map((id) => pool.run(job(id)));
    await turn();
    assert.deepEqual(fakes.map((f) => f.batches[1].length), [2, 2]);
    for (const f of fakes) for (const j of f.batches[1]) f.finish(j, 0.01);
    await Promise.all(more);
  });

  await t.step("a slow result stops pipelining: one job at a time again", async () => {
    const slow = pool.run(job("g"));
    await turn();
    const w = fakes.find((f) => f.batches.length === 3)!;
    w.finish(w.batches[2][0], 50);
    await slow;
    const next = ["h", "i", "j"].map((id) => pool.run(job(id)));
    await turn();
    const sent = fakes.flatMap((f) => f.batches.slice(f === w ? 3 : 2));
    assert.deepEqual(sent.map((b) => b.length), [1, 1], "one job per idle worker");
    for (const f of fakes) f.finish(f.batches.at(-1)![0], 50);
    await turn();
    const last = fakes.flatMap((f) => f.batches.slice(f === w ? 4 : 3));
    assert.deepEqual(last.map((b) => b.map((j) => j.taskId)), [["j"]]);
    for (const f of fakes) {
      if (f.batches.at(-1)![0].taskId === "j") f.finish(f.batches.at(-1)![0], 1);
    }
    await Promise.all(next);
  });
  await pool.close();
});

Deno.test("WorkerPool sends upstream outputs as JSON text and the worker merges them", async (t) => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/echo.ts`;
  await Deno.writeTextFile(path, "export default { run: (p: unknown) => ({ seen: p }) };\n");
  const src: WorkflowSource = { kind: "file", name: "echo", path, url: `file://${path}` };
  const pool = new InlinePool({ size: 2 });
  try {
    await t.step("keys become <upstream>__<key>; own params win", async () => {
      const out = await pool.run({
        source: src,
        params: { own: 1, up__x: "mine" },
        upstream: [["up", JSON.stringify({ x: "theirs", y: [1, 2] })], ["b", '{"z":null}']],
        runParams: { day: "mon" },
        runId: "r",
        taskId: "t",
        attempt: 1,
      });
      assert.ok(out.ok);
      assert.deepEqual(out.output.seen, {
        own: 1,
        up__x: "mine",
        up__y: [1, 2],
        b__z: null,
        run__day: "mon",
      });
      assert.equal(out.outputJson, JSON.stringify(out.output));
    });
    await t.step("submit() reports through a handler, never inside the call", async () => {
      const seen: string[] = [];
      const out = await new Promise<JobOutcome>((resolve) => {
        pool.submit({ ...job("s"), source: src, params: { k: 1 } }, {
          onStart: () => seen.push("start"),
          onDone: (o) => {
            seen.push("done");
            resolve(o);
          },
        });
        seen.push("submitted");
      });
      assert.deepEqual(seen, ["submitted", "start", "done"]);
      assert.ok(out.ok);
      assert.equal(out.outputJson, '{"seen":{"k":1}}');
      assert.deepEqual(out.output, { seen: { k: 1 } });
    });
    await t.step("secrets are resolved and redacted; outputs stay valid JSON", async () => {
      Deno.env.set("ORCH_TEST_POOL_SECRET", "1");
      try {
        const out = await pool.run({
          ...job("s"),
          source: src,
          params: { key: "${env:ORCH_TEST_POOL_SECRET}", n: 12 },
        });
        assert.ok(out.ok);
        // Replacing "1" in the text would break the number 12: values are redacted instead.
        assert.equal(out.outputJson, '{"seen":{"key":"***","n":12}}');
      } finally {
        Deno.env.delete("ORCH_TEST_POOL_SECRET");
      }
    });
    await t.step("a batch with one broken upstream fails only that job", async () => {
      const outs = await Promise.all([
        pool.run({ ...job("a"), source: src, params: { i: 1 } }),
        pool.run({ ...job("b"), source: src, upstream: [["up", "{nope"]] }),
        pool.run({ ...job("c"), source: src, params: { i: 3 } }),
      ]);
      assert.deepEqual(outs.map((o) => o.ok), [true, false, true]);
    });
    await t.step("broken upstream JSON fails the job, not the worker", async () => {
      const bad = await pool.run({ ...job("t"), source: src, upstream: [["up", "{nope"]] });
      assert.equal(bad.ok, false);
      const good = await pool.run({ ...job("t2"), source: src });
      assert.ok(good.ok);
    });
  } finally {
    await pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("WorkerPool spawns workers lazily, only as many as the work needs", async (t) => {
  const fakes: FakeWorker[] = [];
  const pool = new WorkerPool({
    size: 3,
    spawn: () => {
      const f = new FakeWorker();
      fakes.push(f);
      return f;
    },
  });
  try {
    await t.step("none at construction", () => assert.equal(fakes.length, 0));
    await t.step("an inspection of one task starts one worker", () => {
      pool.inspect([{ source, paramSets: [] }, { source, paramSets: [{}] }]);
      assert.equal(fakes.length, 1);
    });
    await t.step("one job at a time runs on one worker", async () => {
      for (const id of ["a", "b", "c"]) {
        const done = pool.run(job(id));
        await turn();
        const f = fakes.at(-1)!;
        f.finish(f.batches.at(-1)![0], 5);
        await done;
      }
      assert.equal(fakes.length, 1);
    });
    await t.step("jobs that find no idle worker start another, up to the size", async () => {
      const runs = ["d", "e", "f", "g"].map((id) => pool.run(job(id)));
      await turn();
      assert.equal(fakes.length, 3);
      for (let k = 0; k < 2; k++) {
        for (const f of fakes) {
          const last = f.batches.at(-1);
          if (last && last.length) f.finish(last.splice(0, 1)[0], 5);
        }
        await turn();
      }
      await Promise.all(runs);
    });
  } finally {
    await pool.close();
  }
});
