/**
 * `orch db import`: a JSONL installation made by the real CLI (runs, a failed run, a
 * scheduler --once tick, a run killed mid-way, junk and a torn line) moved to
 * PostgreSQL; afterwards `runs`, `retry`, `schedules` and the scheduler's decisions on
 * PostgreSQL match what the files said, and a second import imports nothing.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/lib/mod.ts";
import {
  minuteKeys,
  planTick,
  type TickSchedule,
  tickWindowStart,
} from "../../src/schedule/mod.ts";
import { StateStore, type StateStoreLike } from "../../src/store/mod.ts";
import { PostgresStateStore } from "../../src/store/postgres/mod.ts";
import { orch, REPO, sandbox } from "../helpers/cli.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";
import { freshMinute, schedules } from "../e2e/_sched.ts";
import { type PgScope, pgTest } from "./_pg.ts";

type Json = Record<string, unknown>;

async function jsonlSandbox() {
  const sb = await sandbox();
  const { ORCH_STORE: _, ...rest } = sb.env;
  const env = { ...rest, WORKFLOWS_DIR: FIXTURE_WORKFLOWS };
  const cli = (args: string[], extra: Record<string, string> = {}) =>
    orch(args, { cwd: sb.dir, env: { ...env, ...extra } });
  return { sb, env, cli };
}

async function lines(path: string): Promise<number> {
  return (await Deno.readTextFile(path)).split("\n").filter((l) => l.trim() !== "").length;
}

/** What the scheduler would decide at `now` on `store` (the CLI's planTick, no writes). */
async function decide(store: StateStoreLike, schedule: TickSchedule, now: Date) {
  return await store.transaction(async (tx) => {
    const recorded = await tx.scheduleMinutes(tickWindowStart([schedule], now));
    const plan = planTick({
      schedules: [schedule],
      watermarks: await tx.watermarks(),
      enqueuedKeys: minuteKeys(recorded),
      runningBySchedule: new Map(),
      now,
    });
    return {
      enqueue: plan.enqueue.map((e) => e.minute_utc),
      skip: plan.skip.map((e) => e.minute_utc),
    };
  });
}

pgTest("orch db import moves a JSONL installation to PostgreSQL", async (scope, t) => {
  const { sb, env, cli } = await jsonlSandbox();
  const pg = { ORCH_STORE: scope.url };
  try {
    await sb.write(
      "ok.yaml",
      dagYaml("ok_dag", [{ id: "a", workflow_ref: "echo", params: { x: 1 } }]),
    );
    await sb.write(
      "flaky.yaml",
      dagYaml("flaky_dag", [
        { id: "first", workflow_ref: "echo" },
        {
          id: "second",
          workflow_ref: "fail_first_time",
          params: { marker: `${sb.dir}/marker` },
          depends_on: ["first"],
        },
      ]),
    );
    await sb.write(
      "slow.yaml",
      dagYaml("slow_dag", [{ id: "wait", workflow_ref: "sleep", params: { ms: 60_000 } }]),
    );
    const ok = await cli(["run", "--dag", "ok.yaml", "--json"]);
    assert.equal(ok.code, 0, ok.stderr);
    const flaky = await cli(["run", "--dag", "flaky.yaml", "--json"]);
    assert.equal(flaky.code, 1, flaky.stderr);
    const flakyId = JSON.parse(flaky.stdout).run_id;
    await freshMinute();
    await schedules(sb, [{ id: "every", cron: "* * * * *", dag: "ok.yaml" }]);
    const tick = await cli(["scheduler", "--dir", "sched", "--once"]);
    assert.equal(tick.code, 0, tick.stderr);
    const jsonlRuns = JSON.parse((await cli(["runs", "--json"])).stdout) as Json[];
    const jsonlSchedules = JSON.parse(
      (await cli(["schedules", "--dir", "sched", "--json"])).stdout,
    );
    const [enqueued] = (await Deno.readTextFile(sb.state)).split("\n").filter(Boolean)
      .map((l) => JSON.parse(l)).filter((e) => e.event === "schedule_enqueued");

    // A run killed mid-way: run_started without run_finished in the files.
    const killed = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", `${REPO}/main.ts`, "run", "--dag", "slow.yaml"],
      cwd: sb.dir,
      env,
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; i < 100 && !(await Deno.readTextFile(sb.events)).includes("slow_dag"); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    killed.kill("SIGKILL");
    await killed.status;
    await Deno.writeTextFile(sb.events, "not json at all\n", { append: true });
    await Deno.writeTextFile(sb.state, '{"event":"run_sta', { append: true });
    const goodEvents = await lines(sb.events) - 1;
    const goodState = await lines(sb.state) - 1;

    await t.step("imports both logs with one summary line, skipping the bad lines", async () => {
      const r = await cli(["db", "import"], pg);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.stdout,
        `imported ${goodEvents} events, ${goodState} state events, 4 runs (1 schedule-minute(s), 1 watermark(s), skipped 2 torn or corrupt line(s))\n`,
      );
      assert.match(r.stderr, /1 run\(s\) were unfinished in the files/);
      const [{ n }] = await scope.sql`select count(*)::int as n from schedule_minutes`;
      assert.equal(n, 1);
    });

    await t.step(
      "orch runs on PostgreSQL shows what JSONL showed, the killed run interrupted",
      async () => {
        const r = await cli(["runs", "--json"], pg);
        assert.equal(r.code, 0, r.stderr);
        const runs = JSON.parse(r.stdout) as Json[];
        const pick = (x: Json) => [x.run_id, x.status, x.dag_name, x.trigger ?? null];
        const slow = runs.find((x) => x.dag_name === "slow_dag");
        assert.equal(slow?.status, "interrupted");
        assert.deepEqual(
          runs.filter((x) => x !== slow).map(pick),
          jsonlRuns.map(pick),
        );
      },
    );

    await t.step("orch schedules on PostgreSQL names the same last run", async () => {
      const r = await cli(["schedules", "--dir", "sched", "--json"], pg);
      assert.equal(r.code, 0, r.stderr);
      const [after] = JSON.parse(r.stdout).schedules ?? JSON.parse(r.stdout);
      const [before] = jsonlSchedules.schedules ?? jsonlSchedules;
      assert.deepEqual(after.last_run, before.last_run);
      assert.ok(after.last_run, JSON.stringify(after));
    });

    await t.step("the scheduler decides on PostgreSQL as on the files", async () => {
      const schedule: TickSchedule = {
        id: "every",
        cron: "* * * * *",
        timezone: "UTC",
        catchupWindowMs: null,
        enabled: true,
        overlap: "allow",
        dag: "ok.yaml",
        tenant: "t",
      };
      const minute = Date.parse(enqueued.minute_utc);
      const clock = new ManualClock(new Date(minute));
      const onPg = new PostgresStateStore(scope.sql, { schema: scope.schema, clock });
      // Read-only use of the files: decide() appends nothing.
      const onFiles = new StateStore(sb.state, { clock, onWarning: () => {} });
      for (const offsetS of [20, 60 + 5, 3 * 60 + 5]) {
        const now = new Date(minute + offsetS * 1000);
        clock.set(now);
        assert.deepEqual(
          await decide(onPg, schedule, now),
          await decide(onFiles, schedule, now),
          `at +${offsetS}s`,
        );
      }
      clock.set(new Date(minute + 20_000));
      assert.deepEqual(
        (await decide(onPg, schedule, new Date(minute + 20_000))).enqueue,
        [],
        "the imported minute is not run again",
      );
      clock.set(new Date(minute + 65_000));
      assert.deepEqual(
        (await decide(onPg, schedule, new Date(minute + 65_000))).enqueue,
        [new Date(minute + 60_000).toISOString()],
        "the next minute runs once",
      );
    });

    await t.step("orch retry on PostgreSQL reuses the succeeded task of a JSONL run", async () => {
      const r = await cli(["retry", flakyId, "--json"], pg);
      assert.equal(r.code, 0, r.stderr);
      const retryId = JSON.parse(r.stdout).run_id;
      const started = await scope.sql`select body->>'task_id' as task from events
        where run_id = ${retryId} and event = 'task_start'`;
      assert.deepEqual(started.map((x) => x.task), ["second"]);
    });

    await t.step("a second import imports nothing and exits 2", async () => {
      const [before] = await scope.sql`select (select count(*) from events)::int as e,
        (select count(*) from state_events)::int as s`;
      const r = await cli(["db", "import"], pg);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /already has \d+ event\(s\) and \d+ state event\(s\); nothing was imported/,
      );
      assert.match(r.stderr, /--force/);
      const [after] = await scope.sql`select (select count(*) from events)::int as e,
        (select count(*) from state_events)::int as s`;
      assert.deepEqual({ ...after }, { ...before });
    });

    await t.step(
      "--force with the same logs again adds nothing: counts and orch runs unchanged",
      async () => {
        const before = await tableCounts(scope.sql);
        const runsBefore = (await cli(["runs", "--json"], pg)).stdout;
        for (let i = 0; i < 2; i++) {
          const r = await cli(["db", "import", "--force"], pg);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(
            r.stdout,
            `imported 0 events, 0 state events, 0 runs (0 schedule-minute(s), 1 watermark(s), skipped 2 torn or corrupt line(s), ${
              goodEvents + goodState
            } line(s) already in the store)\n`,
          );
          assert.doesNotMatch(r.stderr, /unfinished/);
        }
        assert.deepEqual(await tableCounts(scope.sql), before);
        const runsAfter = (await cli(["runs", "--json"], pg)).stdout;
        assert.deepEqual(JSON.parse(runsAfter), JSON.parse(runsBefore));
      },
    );

    await t.step("--force adds only the lines a grown log has in addition", async () => {
      const before = await tableCounts(scope.sql);
      const grown = await cli(["run", "--dag", "ok.yaml", "--json"]);
      assert.equal(grown.code, 0, grown.stderr);
      const r = await cli(["db", "import", "--force"], pg);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^imported \d+ events, 2 state events, 1 runs /);
      const after = await tableCounts(scope.sql);
      assert.equal(after.runs, before.runs + 1);
      assert.equal(after.state_events, before.state_events + 2);
      const runs = JSON.parse((await cli(["runs", "--json"], pg)).stdout) as Json[];
      const id = JSON.parse(grown.stdout).run_id;
      assert.equal(runs.filter((x) => x.run_id === id).length, 1);
      assert.equal(runs.find((x) => x.dag_name === "slow_dag")?.status, "interrupted");
    });

    await t.step("--force adds another installation's logs", async () => {
      const other = await jsonlSandbox();
      try {
        await other.sb.write("ok.yaml", dagYaml("other_dag", [{ id: "a", workflow_ref: "echo" }]));
        assert.equal((await other.cli(["run", "--dag", "ok.yaml"])).code, 0);
        const r = await other.cli(["db", "import", "--force"], pg);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^imported \d+ events, 2 state events, 1 runs/);
        const runs = JSON.parse((await cli(["runs", "--json"], pg)).stdout) as Json[];
        assert.ok(runs.some((x) => x.dag_name === "other_dag" && x.status === "success"));
      } finally {
        await other.sb.cleanup();
      }
    });
  } finally {
    await sb.cleanup();
  }
});

/** Rows of every table the import writes. */
async function tableCounts(sql: PgScope["sql"]): Promise<Record<string, number>> {
  const [row] = await sql`select (select count(*) from events)::int as events,
    (select count(*) from state_events)::int as state_events,
    (select count(*) from runs)::int as runs,
    (select count(*) from schedule_minutes)::int as schedule_minutes,
    (select count(*) from watermarks)::int as watermarks`;
  return { ...row } as Record<string, number>;
}

pgTest("orch db import: a failed import leaves the store as it was", async (scope, t) => {
  const { sb, cli } = await jsonlSandbox();
  const pg = { ORCH_STORE: scope.url };
  try {
    await sb.write("ok.yaml", dagYaml("ok_dag", [{ id: "a", workflow_ref: "echo" }]));
    await freshMinute();
    await schedules(sb, [{ id: "every", cron: "* * * * *", dag: "ok.yaml" }]);
    assert.equal((await cli(["scheduler", "--dir", "sched", "--once"])).code, 0);
    assert.equal((await cli(["run", "--dag", "ok.yaml"])).code, 0);
    // PostgreSQL cannot store \u0000 in jsonb: the last state line fails the import
    // after every event, state event and schedule-minute before it was written.
    const bad = JSON.stringify({
      timestamp: new Date().toISOString(),
      event: "run_started",
      run_id: "bad",
      dag_name: "nul\u0000",
    });
    const goodState = await Deno.readTextFile(sb.state);

    await t.step("into an empty store: nothing at all, exit 4, a clear message", async () => {
      await Deno.writeTextFile(sb.state, goodState + bad + "\n");
      const r = await cli(["db", "import"], pg);
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, /Cannot import into .*: unsupported Unicode escape sequence/);
      assert.match(r.stderr, /nothing was imported/);
      assert.match(r.stderr, /\\u0000/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
      assert.deepEqual(await tableCounts(scope.sql), {
        events: 0,
        state_events: 0,
        runs: 0,
        schedule_minutes: 0,
        watermarks: 0,
      });
    });

    await t.step("with --force into an imported store: unchanged", async () => {
      await Deno.writeTextFile(sb.state, goodState);
      assert.equal((await cli(["db", "import"], pg)).code, 0);
      const before = await tableCounts(scope.sql);
      assert.ok(before.events > 0 && before.schedule_minutes === 1, JSON.stringify(before));
      assert.equal((await cli(["run", "--dag", "ok.yaml"])).code, 0);
      await Deno.writeTextFile(sb.state, bad + "\n", { append: true });
      const r = await cli(["db", "import", "--force"], pg);
      assert.equal(r.code, 4, r.stderr);
      assert.deepEqual(await tableCounts(scope.sql), before);
    });
  } finally {
    await sb.cleanup();
  }
});

pgTest("orch db import: user mistakes exit 2 with a clear message", async (scope) => {
  const { cli, sb } = await jsonlSandbox();
  try {
    const none = await cli(["db", "import"], { ORCH_STORE: scope.url });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Cannot import: no file at ".*orchestrator_events.jsonl" or/);
    const missing = await cli(["db", "import", "--events", "nope.jsonl"], {
      ORCH_STORE: scope.url,
    });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no file at ".*nope.jsonl"/);
    const noStore = await cli(["db", "import"]);
    assert.equal(noStore.code, 2);
    assert.match(noStore.stderr, /without a PostgreSQL store/);
    const wrong = await cli(["db", "status", "--force"], { ORCH_STORE: scope.url });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /--force is only for 'orch db import'/);
    const help = await cli(["db", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /orch db import/);
    assert.doesNotMatch(none.stderr + missing.stderr, /\n\s+at /, "no stack traces");
  } finally {
    await sb.cleanup();
  }
});
