import assert from "node:assert/strict";
import { runInline } from "../helpers/engine.ts";

const byTask = (r: { tasks: { id: string }[] }) =>
  Object.fromEntries(r.tasks.map((t) => [t.id, t])) as Record<string, Record<string, unknown>>;

Deno.test("executeDag() passes upstream outputs as <upstream>__<key>", async () => {
  const { result } = await runInline([
    { id: "a", workflow_ref: "echo", params: { x: 1 } },
    { id: "b", workflow_ref: "echo", params: { y: 2 } },
    { id: "c", workflow_ref: "echo", params: { a__x: "own" }, depends_on: ["a", "b"] },
  ], { runParams: { day: "mon" } });
  assert.equal(result.status, "success");
  // echo returns everything it got, so a's and b's run__day flow on too.
  assert.deepEqual(byTask(result).c.output, {
    a__x: "own",
    a__run__day: "mon",
    b__y: 2,
    b__run__day: "mon",
    run__day: "mon",
  });
});

Deno.test("executeDag() retries with doubling backoff, then succeeds", async () => {
  const { result, events, delays } = await runInline([
    { id: "f", workflow_ref: "flaky", params: { fail_times: 2 }, retries: 2, retry_delay_s: 3 },
  ]);
  assert.equal(result.status, "success");
  assert.equal(result.tasks[0].attempts, 3);
  assert.deepEqual(delays, [3000, 6000]);
  const kinds = events.map((e) => `${e.event}:${e.attempt ?? ""}`);
  assert.deepEqual(kinds, [
    "dag_start:",
    "task_start:1",
    "task_fail:1",
    "task_retry:2",
    "task_start:2",
    "task_fail:2",
    "task_retry:3",
    "task_start:3",
    "task_ok:3",
    "dag_done:",
  ]);
  assert.equal(events.find((e) => e.event === "task_fail")?.will_retry, true);
});

Deno.test("executeDag() fails a task after its retries and skips its dependants only", async () => {
  const { result, events } = await runInline([
    { id: "bad", workflow_ref: "fail", retries: 1, retry_delay_s: 0 },
    { id: "child", workflow_ref: "echo", depends_on: ["bad"] },
    { id: "grandchild", workflow_ref: "echo", depends_on: ["child"] },
    { id: "other", workflow_ref: "echo" },
    { id: "other2", workflow_ref: "echo", depends_on: ["other"] },
  ]);
  const t = byTask(result);
  assert.equal(result.status, "failed");
  assert.equal(t.bad.status, "failed");
  assert.equal(t.bad.error, "Task 'bad' failed after 2 attempts: boom");
  assert.equal(t.child.status, "skipped");
  assert.equal(t.grandchild.status, "skipped");
  assert.equal(t.other2.status, "success");
  assert.deepEqual([result.succeeded, result.failed, result.skipped], [2, 1, 2]);
  const skipped = events.filter((e) => e.event === "task_skipped").map((e) => e.task_id).sort();
  assert.deepEqual(skipped, ["child", "grandchild"]);
  assert.equal(events.some((e) => e.event === "task_start" && e.task_id === "child"), false);
  const done = events.at(-1)!;
  assert.deepEqual(
    [done.event, done.status, done.tasks_failed, done.tasks_skipped],
    ["dag_done", "failed", 1, 2],
  );
});

Deno.test("executeDag() fails a task whose output is not a JSON object", async (t) => {
  for (const kind of ["bigint", "array", "cycle", "undefined"]) {
    await t.step(kind, async () => {
      const { result } = await runInline([{
        id: "x",
        workflow_ref: "bad_output",
        params: { kind },
      }]);
      assert.equal(result.tasks[0].status, "failed");
      assert.match(
        String(result.tasks[0].error),
        /Workflow "bad_output" returned (an array|undefined|an object that is not JSON-serialisable)/,
      );
    });
  }
});

Deno.test("executeDag() records ctx.log lines as task_log events after task_start", async () => {
  const { events } = await runInline([{ id: "l", workflow_ref: "logger" }]);
  const names = events.map((e) => e.event);
  assert.deepEqual(names, [
    "dag_start",
    "task_start",
    "task_log",
    "task_log",
    "task_ok",
    "dag_done",
  ]);
  assert.deepEqual(
    events.filter((e) => e.event === "task_log").map((e) => [e.message, e.task_id, e.run_id]),
    [["first line", "l", "run-1"], ["second line", "l", "run-1"]],
  );
});

Deno.test("executeDag() reuses given outputs without running those tasks", async () => {
  const { result, events } = await runInline([
    { id: "a", workflow_ref: "fail" },
    { id: "b", workflow_ref: "echo", depends_on: ["a"] },
  ], { reuse: new Map([["a", { v: 7 }]]) });
  assert.equal(result.status, "success");
  assert.deepEqual(byTask(result).b.output, { a__v: 7 });
  assert.equal(events.filter((e) => e.event === "task_start").length, 1);
});

Deno.test("executeDag() cancels: queued tasks skipped, run cancelled", async () => {
  const ac = new AbortController();
  const run = runInline([
    { id: "slow", workflow_ref: "sleep", params: { ms: 5000 } },
    { id: "after", workflow_ref: "echo", depends_on: ["slow"] },
  ], { signal: ac.signal });
  setTimeout(() => ac.abort("stop"), 50);
  const { result } = await run;
  assert.equal(result.status, "cancelled");
  assert.equal(byTask(result).after.status, "skipped");
  assert.equal(byTask(result).slow.status, "failed");
});

Deno.test("executeDag() events carry the seed fields on every line", async () => {
  const { events } = await runInline([{ id: "a", workflow_ref: "echo" }]);
  for (const e of events) {
    for (const k of ["timestamp", "event", "run_id", "dag_name", "tenant_id", "v"]) {
      assert.ok(k in e, `${e.event} lacks ${k}`);
    }
    assert.match(String(e.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
});
