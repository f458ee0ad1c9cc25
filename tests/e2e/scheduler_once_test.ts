import assert from "node:assert/strict";
import { orch, readEvents, readState, resetState } from "../helpers/cli.ts";
import { freshMinute, notNowCron, schedSandbox, schedules, spawnOrch } from "./_sched.ts";

const OK_DAG = JSON.stringify({
  name: "ok_dag",
  tenant_id: "t",
  tasks: [{ id: "a", workflow_ref: "echo", params: { x: 1 } }],
});
const FAIL_DAG = JSON.stringify({
  name: "fail_dag",
  tenant_id: "t",
  tasks: [{ id: "a", workflow_ref: "fail" }],
});

Deno.test("orch scheduler --once", async (t) => {
  const sb = await schedSandbox();
  await sb.write("dags/ok.yaml", OK_DAG);
  await sb.write("dags/fail.yaml", FAIL_DAG);
  const once = () => orch(["scheduler", "--dir", "sched", "--once"], { cwd: sb.dir, env: sb.env });
  const state = () => readState(sb);
  try {
    await t.step(
      "runs a due schedule once, and a second tick in the minute enqueues nothing",
      async () => {
        await freshMinute();
        await schedules(sb, [{
          id: "due",
          cron: "* * * * *",
          dag: "dags/ok.yaml",
          params: { p: 2 },
        }]);
        const first = await once();
        assert.equal(first.code, 0, first.stderr);
        assert.match(first.stderr, /enqueued due .* as run /);
        const second = await once();
        assert.equal(second.code, 0, second.stderr);
        assert.match(second.stderr, /Nothing due/);
        const events = await state();
        assert.equal(events.filter((e) => e.event === "schedule_enqueued").length, 1);
        const started = events.filter((e) => e.event === "run_started");
        assert.equal(started.length, 1);
        assert.equal(started[0].trigger, "schedule");
        assert.deepEqual(started[0].params, { p: 2 });
        const fin = events.filter((e) => e.event === "run_finished");
        assert.equal(fin[0].status, "success");
        const ok = (await readEvents(sb)).find((e) => e.event === "task_ok");
        assert.deepEqual(ok?.output, { x: 1, run__p: 2 });
      },
    );

    await t.step("not due and disabled schedules run nothing (exit 0)", async () => {
      await resetState(sb);
      await schedules(sb, [
        { id: "later", cron: notNowCron(), dag: "dags/ok.yaml" },
        { id: "off", cron: "* * * * *", dag: "dags/ok.yaml", enabled: false },
      ]);
      const r = await once();
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Nothing due/);
      assert.equal((await state()).filter((e) => e.event === "run_started").length, 0);
    });

    await t.step("a failing run exits 1", async () => {
      await resetState(sb);
      await schedules(sb, [{ id: "bad", cron: "* * * * *", dag: "dags/fail.yaml" }]);
      const r = await once();
      assert.equal(r.code, 1, r.stderr);
      const fin = (await state()).filter((e) => e.event === "run_finished");
      assert.equal(fin[0].status, "failed");
    });

    await t.step(
      "three overlapping --once processes start exactly one run for the minute",
      async () => {
        await freshMinute();
        await resetState(sb);
        await schedules(sb, [{ id: "race", cron: "* * * * *", dag: "dags/ok.yaml" }]);
        const kids = [0, 1, 2].map(() => spawnOrch(["scheduler", "--dir", "sched", "--once"], sb));
        const outs = await Promise.all(kids.map((k) => k.output()));
        assert.deepEqual(outs.map((o) => o.code), [0, 0, 0]);
        const events = await state();
        assert.equal(events.filter((e) => e.event === "schedule_enqueued").length, 1);
        assert.equal(events.filter((e) => e.event === "run_started").length, 1);
      },
    );

    await t.step("an invalid DAG in a schedule exits 2 and runs nothing", async () => {
      await resetState(sb);
      await sb.write(
        "dags/broken.yaml",
        JSON.stringify({ name: "b", tenant_id: "t", tasks: [{ id: "a", workflow_ref: "nope" }] }),
      );
      await schedules(sb, [{ id: "broken", cron: "* * * * *", dag: "dags/broken.yaml" }]);
      const r = await once();
      assert.equal(r.code, 2);
      assert.match(r.stderr, /ScheduleValidationError: .*\n.*schedule "broken" dag: Invalid DAG/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
      assert.equal((await state()).length, 0);
    });

    await t.step("usage errors exit 2 with one message", async () => {
      const r = await orch(["scheduler", "--dir", "sched"], { cwd: sb.dir, env: sb.env });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /UsageError: Give exactly one of --once or --serve/);
    });
  } finally {
    await sb.cleanup();
  }
});
