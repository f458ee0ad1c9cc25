import assert from "node:assert/strict";
import {
  executeDag,
  type FollowHandler,
  InlinePool,
  type Job,
  ManualClock,
  parseDag,
  prepareRun,
  type TaskPool,
  WorkerPool,
  WorkflowRegistry,
} from "../../mod.ts";
import { dagYaml, type TaskYaml } from "../helpers/dag.ts";

/**
 * A chain link: its depth is one more than its upstream's; it logs a line, fails while
 * `ctx.attempt <= fail_times`, stalls `stall_ms` while `ctx.attempt <= stall_times`, and
 * touches `<marks>/<task>` when it starts (when `marks` is set).
 */
const LINK = `export default {
  run(params, ctx) {
    if (params.marks) Deno.writeTextFileSync(params.marks + "/" + ctx.taskId, "");
    let depth = 0;
    for (const [k, v] of Object.entries(params)) {
      if (k.endsWith("__depth") && typeof v === "number" && v > depth) depth = v;
    }
    ctx.log("link " + ctx.taskId + " attempt " + ctx.attempt);
    if (ctx.attempt <= (params.fail_times ?? 0)) throw new Error("link failure " + ctx.attempt);
    const out = {
      depth: depth + 1,
      pid: Deno.pid,
      from: Object.keys(params).filter((k) => k.includes("__")).sort(),
    };
    if (ctx.attempt > (params.stall_times ?? 0)) return out;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => resolve(out), params.stall_ms ?? 20000);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(t);
        reject(new Error("aborted"));
      });
    });
  },
};
`;

/** A WorkerPool that counts the continuations it accepted. */
class CountingPool extends WorkerPool {
  follows = 0;
  override follow(after: Job, job: Job, handler: FollowHandler): boolean {
    const ok = super.follow(after, job, handler);
    if (ok) this.follows++;
    return ok;
  }
}

/** `n` links t0 -> t1 -> ...; `extra` adds fields to some of them. */
function chain(n: number, extra: Record<number, Partial<TaskYaml>> = {}, params = {}): TaskYaml[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `t${i}`,
    workflow_ref: "link",
    ...(i ? { depends_on: [`t${i - 1}`] } : {}),
    ...extra[i],
    params: { ...params, ...extra[i]?.params },
  }));
}

async function run(
  tasks: TaskYaml[],
  pool: TaskPool,
  options: { signal?: AbortSignal; onEvent?: (e: Record<string, unknown>) => void } = {},
) {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/link.js`, LINK);
  const registry = await WorkflowRegistry.scan(dir, []);
  const events: Record<string, unknown>[] = [];
  const delays: number[] = [];
  try {
    const prepared = await prepareRun(parseDag(dagYaml("chain", tasks)), { registry, pool });
    const result = await executeDag({
      ...prepared,
      pool,
      // Event lines as text (the path `orch run` without progress output takes).
      events: {
        append: (...e) => events.push(...(e as Record<string, unknown>[])),
        appendLine: (line) => events.push(JSON.parse(line)),
      },
      clock: new ManualClock(new Date("2026-01-01T00:00:00Z")),
      sleep: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
      random: () => 0.5,
      runId: "run-1",
      signal: options.signal,
      onEvent: options.onEvent as never,
    });
    return { result, events, delays };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The events without times and pids, for comparing runs of two pools. */
function shape(events: Record<string, unknown>[]): string[] {
  return events.filter((e) => e.event !== "dag_start" && e.event !== "dag_done").map((e) =>
    [e.event, e.task_id, e.attempt, e.will_retry ?? "", e.reason ?? "", e.message ?? ""].join(" ")
  );
}

/** Each started task's events: start, its log line, then its end; and link k starts after link k-1's task_ok. */
function assertChainOrder(events: Record<string, unknown>[]): void {
  const at = (kind: string, id: string, attempt?: number) =>
    events.findIndex((e) =>
      e.event === kind && e.task_id === id && (attempt === undefined || e.attempt === attempt)
    );
  for (const e of events) {
    if (e.event !== "task_start") continue;
    const id = String(e.task_id);
    const k = Number(id.slice(1));
    const start = events.indexOf(e);
    if (k > 0) {
      const prevOk = at("task_ok", `t${k - 1}`);
      assert.ok(prevOk >= 0 && prevOk < start, `task_ok t${k - 1} before task_start ${id}`);
    }
    const log = at("task_log", id, e.attempt as number);
    assert.ok(log > start, `task_log of ${id} after its task_start`);
    const end = events.findIndex((x, j) =>
      j > start && x.task_id === id && x.attempt === e.attempt &&
      (x.event === "task_ok" || x.event === "task_fail")
    );
    if (end >= 0) assert.ok(end > log, `end of ${id} after its log line`);
  }
}

Deno.test("executeDag() on a WorkerPool runs chains through continuations", async (t) => {
  await t.step("every link receives its upstream's output; events in chain order", async () => {
    const pool = new CountingPool({ size: 2 });
    try {
      const n = 300;
      const { result, events } = await run(chain(n), pool);
      assert.equal(result.status, "success");
      result.tasks.forEach((r, i) => {
        assert.equal(r.output?.depth, i + 1, `depth of ${r.id}`);
        assert.deepEqual(
          r.output?.from,
          i ? [`t${i - 1}__depth`, `t${i - 1}__from`, `t${i - 1}__pid`] : [],
        );
        assert.equal(r.attempts, 1);
      });
      assert.ok(pool.follows >= n - 10, `${pool.follows} links of ${n} ran as continuations`);
      assertChainOrder(events);
      assert.equal(events.filter((e) => e.event === "task_start").length, n);
      // The same events, in the same order, as a pool without continuations writes.
      const inline = await run(chain(n), new InlinePool({ size: 2 }));
      assert.deepEqual(shape(events), shape(inline.events));
    } finally {
      await pool.close();
    }
  });

  await t.step(
    "a failing link is retried with the same backoff, then the chain goes on",
    async () => {
      const pool = new CountingPool({ size: 2 });
      try {
        const tasks = chain(40, { 5: { retries: 2, params: { fail_times: 2 } } });
        const { result, events, delays } = await run(tasks, pool);
        assert.equal(result.status, "success");
        assert.equal(result.tasks[5].attempts, 3);
        result.tasks.forEach((r, i) => assert.equal(r.output?.depth, i + 1));
        assertChainOrder(events);
        const inline = await run(tasks, new InlinePool({ size: 2 }));
        assert.deepEqual(delays, inline.delays);
        assert.deepEqual(shape(events), shape(inline.events));
        assert.ok(pool.follows > 30);
      } finally {
        await pool.close();
      }
    },
  );

  await t.step("a link failing for good: no later link starts, all are skipped", async () => {
    const pool = new CountingPool({ size: 2 });
    try {
      const tasks = chain(40, { 5: { retries: 1, params: { fail_times: 9 } } });
      const { result, events } = await run(tasks, pool);
      assert.equal(result.status, "failed");
      assert.deepEqual([result.succeeded, result.failed, result.skipped], [5, 1, 34]);
      const started = events.filter((e) => e.event === "task_start").map((e) => e.task_id);
      assert.deepEqual(started, ["t0", "t1", "t2", "t3", "t4", "t5", "t5"]);
      const inline = await run(tasks, new InlinePool({ size: 2 }));
      assert.deepEqual(shape(events), shape(inline.events));
    } finally {
      await pool.close();
    }
  });

  await t.step("a timeout inside a continued chain fails that attempt only", async () => {
    const pool = new CountingPool({ size: 2 });
    try {
      const tasks = chain(12, {
        4: { timeout_s: 0.3, retries: 1, params: { stall_times: 1 } },
        5: { timeout_s: 5 },
      });
      const { result, events } = await run(tasks, pool);
      assert.equal(result.status, "success", JSON.stringify(result.tasks[4]));
      result.tasks.forEach((r, i) => assert.equal(r.output?.depth, i + 1));
      const fail = events.find((e) => e.event === "task_fail");
      assert.equal(fail?.task_id, "t4");
      assert.equal(fail?.error_name, "TimeoutError");
      assert.equal(fail?.will_retry, true);
      assert.equal(result.tasks[4].attempts, 2);
      assertChainOrder(events);
      // After a timeout in a thread the workflow runs in worker processes.
      assert.notEqual(result.tasks[11].output?.pid, Deno.pid);
    } finally {
      await pool.close();
    }
  });

  await t.step("a cancel mid-chain: no link starts after it", async () => {
    const pool = new CountingPool({ size: 2 });
    const marks = await Deno.makeTempDir();
    try {
      const cancel = new AbortController();
      const tasks = chain(30, {}, { marks, stall_times: 1, stall_ms: 300 });
      const { result, events } = await run(tasks, pool, {
        signal: cancel.signal,
        onEvent: (e) => {
          if (e.event === "task_start" && e.task_id === "t3") cancel.abort("stop");
        },
      });
      assert.equal(result.status, "cancelled");
      const started = events.filter((e) => e.event === "task_start").map((e) => e.task_id);
      assert.deepEqual(started, ["t0", "t1", "t2", "t3"]);
      // Give a worker that did not see the abort time to start the next link.
      await new Promise((r) => setTimeout(r, 200));
      const ran = [];
      for await (const f of Deno.readDir(marks)) ran.push(f.name);
      assert.deepEqual(ran.sort(), ["t0", "t1", "t2", "t3"]);
      const skipped = events.filter((e) => e.event === "task_skipped");
      assert.equal(skipped.length, 26);
      assert.ok(skipped.every((e) => e.reason === "cancelled"));
    } finally {
      await pool.close();
      await Deno.remove(marks, { recursive: true });
    }
  });
});

/** A pool that accepts a chain's head and its continuations and never starts anything. */
class HoldingPool implements TaskPool {
  readonly size = 1;
  links = 0;
  /** Continuations accepted. */
  follows = 0;
  run(): Promise<never> {
    return new Promise(() => {});
  }
  submit(): void {}
  submitLink(): void {
    this.links++;
  }
  follow(): boolean {
    this.follows++;
    return true;
  }
  inspect(): Promise<never> {
    return Promise.reject(new Error("not used"));
  }
  cancelRun(): void {}
  close(): Promise<void> {
    return Promise.resolve();
  }
}

Deno.test("executeDag() sends a chain's first 256 links ahead at once, without waiting for their starts", async () => {
  const tasks = chain(600);
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/link.js`, LINK);
  const inline = new InlinePool({ size: 1 });
  try {
    const registry = await WorkflowRegistry.scan(dir, []);
    const prepared = await prepareRun(parseDag(dagYaml("chain", tasks)), {
      registry,
      pool: inline,
    });
    const pool = new HoldingPool();
    // Never settles: nothing ever starts. Only what was sent ahead is looked at.
    void executeDag({
      ...prepared,
      pool,
      events: { append() {}, appendLine() {} },
      clock: new ManualClock(new Date("2026-01-01T00:00:00Z")),
      sleep: () => Promise.resolve(),
      runId: "run-1",
    });
    assert.equal(pool.links, 1);
    assert.equal(pool.follows, 8, "the first links go out with the head");
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(pool.follows, 256, "doubled up to 256 within the same turn, no start reported");
  } finally {
    await inline.close();
    await Deno.remove(dir, { recursive: true });
  }
});
