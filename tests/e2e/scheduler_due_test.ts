import assert from "node:assert/strict";
import { ON_PG } from "../helpers/backend.ts";
import { orch, readEvents, readState } from "../helpers/cli.ts";
import { freshMinute, notNowCron, schedSandbox, schedules } from "./_sched.ts";

const OK_DAG = JSON.stringify({
  name: "ok_dag",
  tenant_id: "t",
  tasks: [{ id: "a", workflow_ref: "echo", params: { x: 1 } }],
});

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

// The next-due index is a JSONL-store feature (src/schedule/next_due.ts).
Deno.test({
  name: "scheduler --once takes a due minute's schedules from the next-due index",
  ignore: ON_PG,
  fn: async (t) => {
    const sb = await schedSandbox();
    const once = () =>
      orch(["scheduler", "--dir", "sched", "--once"], { cwd: sb.dir, env: sb.env });
    const index = `${sb.state}.next_due.json`;
    const validated = `${sb.state}.validated.json`;
    const finished = async () =>
      (await readState(sb)).filter((e) => e.event === "run_finished").map((e) => e.status);
    const forget = async (...paths: string[]) => {
      for (const p of paths) await Deno.remove(p, { recursive: true }).catch(() => {});
    };
    try {
      await sb.write("dags/ok.yaml", OK_DAG);
      await schedules(sb, [
        { id: "later", cron: notNowCron(), dag: "dags/ok.yaml" },
        { id: "now", cron: "* * * * *", dag: "dags/ok.yaml", params: { who: "cron" } },
      ]);
      await freshMinute(40);

      await t.step("a tick that ran something records its schedules in the index", async () => {
        const r = await once();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /enqueued now .* as run /);
        assert.deepEqual(await finished(), ["success"]);
        const recorded = JSON.parse(await Deno.readTextFile(index));
        assert.deepEqual(recorded.entries.map((e: { id: string }) => e.id), ["later", "now"]);
        assert.equal(recorded.state, "not quiet");
      });

      await t.step("the same minute again: nothing due, decided without loading", async () => {
        await forget(validated); // a full tick would validate the DAG again and save it
        const r = await once();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /Nothing due/);
        assert.equal(await exists(validated), false, "the DAG was not validated again");
        assert.deepEqual(await finished(), ["success"], "exactly once");
        // That tick was quiet: the next one ends from the index alone.
        const quiet = await once();
        assert.equal(quiet.stderr, "Nothing due\n");
      });

      await t.step("a due minute on the index path runs the DAG through runDag", async () => {
        // A fresh state store (no watermarks, no runs) with the index kept: the tick plans
        // from the recorded schedules, and "now" is due in this minute.
        await forget(sb.state, `${sb.state}.watermarks.json`, validated, sb.events);
        const r = await once();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /enqueued now .* as run /);
        assert.equal(await exists(validated), false, "taken from the index, not validated");
        const state = await readState(sb);
        const events = state.map((e) => e.event);
        assert.deepEqual(
          events.filter((e) => e !== "schedule_skipped"),
          ["schedule_enqueued", "run_started", "run_finished"],
        );
        assert.equal(state.find((e) => e.event === "run_finished")?.status, "success");
        const tasks = await readEvents(sb);
        assert.deepEqual(tasks.map((e) => e.event), [
          "dag_start",
          "task_start",
          "task_ok",
          "dag_done",
        ]);
        const output = tasks[2].output as Record<string, unknown>;
        assert.equal(output.run__who, "cron", "the recorded params reached the task");
        const marks = JSON.parse(await Deno.readTextFile(`${sb.state}.watermarks.json`));
        assert.deepEqual(Object.keys(marks.watermarks).sort(), ["later", "now"]);
        // And again in the same minute: exactly once.
        assert.match((await once()).stderr, /Nothing due/);
        assert.deepEqual(await finished(), ["success"]);
      });

      await t.step("an edited DAG or schedule file is loaded again", async () => {
        await sb.write("dags/ok.yaml", OK_DAG.replace('"echo"', '"no_such_workflow"'));
        const bad = await once();
        assert.equal(bad.code, 2, bad.stderr);
        assert.match(bad.stderr, /no_such_workflow/);
        await sb.write("dags/ok.yaml", OK_DAG);
        await schedules(sb, [
          { id: "later", cron: notNowCron(), dag: "dags/ok.yaml" },
          { id: "now", cron: "* * * * *", dag: "dags/ok.yaml" },
          { id: "added", cron: "* * * * *", dag: "dags/ok.yaml" },
        ]);
        const r = await once();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /enqueued added .* as run /);
        assert.doesNotMatch(r.stderr, /enqueued now/);
      });
    } finally {
      await sb.cleanup();
    }
  },
});
