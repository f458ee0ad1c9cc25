import assert from "node:assert/strict";
import { Cron } from "croner";
import { ManualClock } from "../../src/lib/mod.ts";
import { Scheduler } from "../../src/schedule/mod.ts";
import {
  type Fence,
  LeaderElection,
  PostgresEventLog,
  PostgresRunLiveness,
  PostgresStateStore,
  PostgresTaskEvents,
} from "../../src/store/postgres/mod.ts";
import { sandbox } from "../helpers/cli.ts";
import { testSchedule } from "../helpers/schedule.ts";
import { FIXTURES, schedules, spawnOrch } from "../e2e/_sched.ts";
import { collectStderr, type PgScope, pgTest } from "./_pg.ts";

const T0 = new Date("2026-05-01T10:00:05Z");
const MINUTE = 60_000;

async function minutesRecorded(scope: PgScope): Promise<string[]> {
  const rows = await scope.sql<{ m: Date }[]>`
    select minute_utc as m from schedule_minutes where kind = 'enqueued' order by minute_utc`;
  return rows.map((r) => r.m.toISOString());
}

function schedulerFor(scope: PgScope, clock: ManualClock, leadership: {
  isLeader(): boolean;
  fence: Fence;
}, notices: string[]): { scheduler: Scheduler; liveness: PostgresRunLiveness } {
  const liveness = new PostgresRunLiveness(scope.sql, { host: "h" });
  const store = new PostgresStateStore(scope.sql, { schema: scope.schema, clock });
  const scheduler = new Scheduler({
    store,
    backend: {
      liveness,
      taskEvents: new PostgresTaskEvents(scope.sql),
      openEventLog: () => new PostgresEventLog(scope.sql),
    },
    schedules: [testSchedule("s", { overlap: "allow" })],
    clock,
    sleep: () => Promise.resolve(),
    launch: () => Promise.resolve("success"),
    maxParallel: 4,
    host: "h",
    onNotice: (l) => notices.push(l),
    leadership: {
      isLeader: () => leadership.isLeader(),
      tickStore: new PostgresStateStore(scope.sql, {
        schema: scope.schema,
        clock,
        fence: leadership.fence,
      }),
    },
  });
  return { scheduler, liveness };
}

pgTest(
  "Scheduler with leadership: only the leader ticks; a stale leader is fenced; no minute lost or doubled across a hand-over",
  async (scope) => {
    const clock = new ManualClock(T0);
    const a = new LeaderElection(scope.config, { holder: "a", pollMs: 30 });
    const b = new LeaderElection(scope.config, { holder: "b", pollMs: 30 });
    const notes: string[] = [];
    // `aStale` is process a after it hung: it still believes it leads with its old epoch.
    let aEpoch = await a.waitForLeadership();
    let aResumed = false;
    const sa = schedulerFor(scope, clock, {
      isLeader: () => aResumed || a.isLeader(),
      fence: { name: a.name, epoch: () => aResumed ? aEpoch : a.epoch() },
    }, notes);
    const sb = schedulerFor(scope, clock, { isLeader: () => b.isLeader(), fence: b }, notes);
    b.start();
    try {
      for (let i = 0; i < 10; i++) {
        clock.set(new Date(T0.getTime() + i * MINUTE));
        if (i === 4) {
          // The leader dies before ticking minute 4 (its session goes; the lock is freed).
          aEpoch = a.epoch()!;
          await a.stop();
          await b.waitForLeadership();
          aResumed = true; // and comes back believing it still leads
        }
        await sa.scheduler.tick();
        await sb.scheduler.tick();
        if (i < 4) assert.equal(b.isLeader(), false, "the follower never ticks");
      }
      await sa.scheduler.drain();
      await sb.scheduler.drain();
      const expected: string[] = [];
      const cron = new Cron("* * * * *", { timezone: "UTC", paused: true });
      let at = cron.nextRun(new Date(T0.getTime() - MINUTE));
      while (at && at.getTime() <= T0.getTime() + 9 * MINUTE) {
        expected.push(at.toISOString());
        at = cron.nextRun(at);
      }
      assert.equal(expected.length, 10);
      assert.deepEqual(await minutesRecorded(scope), expected);
      assert.equal(sa.scheduler.outcomes.length, 4, "a ran minutes 0-3");
      assert.equal(sb.scheduler.outcomes.length, 6, "b ran minutes 4-9");
      assert.ok(notes.some((l) => /tick refused: Cannot write as leader "scheduler"/.test(l)));
    } finally {
      await a.stop();
      await b.stop();
      await sa.liveness.close();
      await sb.liveness.close();
    }
  },
);

async function until(check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

pgTest(
  "scheduler --serve on PostgreSQL: SIGKILL the leader, the follower takes over within 30 s, each minute once",
  async (scope) => {
    const sb = await sandbox();
    sb.env.WORKFLOWS_DIR = FIXTURES;
    sb.env.ORCH_STORE = scope.url;
    const children: Deno.ChildProcess[] = [];
    try {
      await sb.write(
        "dags/quick.yaml",
        JSON.stringify({
          name: "quick",
          tenant_id: "t",
          tasks: [{ id: "w", workflow_ref: "sleep", params: { ms: 10 } }],
        }),
      );
      await schedules(sb, [{ id: "q", cron: "* * * * *", dag: "dags/quick.yaml" }]);
      const start = new Date();
      const env = { SCHED_TICK_MS: "200" };
      const procs = ["a", "b"].map(() => {
        const child = spawnOrch(["scheduler", "--dir", "sched", "--serve"], sb, env);
        children.push(child);
        return { child, err: collectStderr(child) };
      });
      const leads = (p: (typeof procs)[number]) => /this scheduler leads/.test(p.err.text());
      await until(() => procs.some(leads), 20_000);
      const leader = procs.find(leads)!;
      const follower = procs.find((p) => p !== leader)!;
      await until(() => /campaigning/.test(follower.err.text()), 20_000);
      await until(() => /enqueued q /.test(leader.err.text()), 20_000);
      // Kill between runs: a run the kill left unfinished would (rightly) make the next
      // minute an overlap skip until its heartbeat expires, when the kill lands near a
      // minute's end.
      for (let i = 0; i < 500; i++) {
        const [{ n }] = await scope.sql<{ n: number }[]>`
          select count(*)::int as n from runs where status = 'running'`;
        if (n === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      leader.child.kill("SIGKILL");
      const killed = performance.now();
      await until(() => leads(follower), 30_000);
      const takeoverMs = performance.now() - killed;
      console.log(`takeover after SIGKILL of the leader: ${takeoverMs.toFixed(0)} ms`);
      assert.ok(takeoverMs < 30_000);
      // Let the new leader tick a few times (tick 200 ms) before checking.
      await new Promise((r) => setTimeout(r, 600));
      const end = new Date();
      follower.child.kill("SIGTERM");
      await follower.child.status;
      const expected: string[] = [];
      const cron = new Cron("* * * * *", { timezone: "UTC", paused: true });
      let at = cron.nextRun(new Date(Math.floor(start.getTime() / MINUTE) * MINUTE - 1));
      while (at && at.getTime() <= end.getTime()) {
        expected.push(at.toISOString());
        at = cron.nextRun(at);
      }
      assert.deepEqual(await minutesRecorded(scope), expected, follower.err.text());
      assert.doesNotMatch(follower.err.text(), /tick failed/);
      await Promise.all(procs.map((p) => p.err.done));
    } finally {
      for (const c of children) {
        try {
          c.kill("SIGKILL");
        } catch { /* already gone */ }
        await c.status;
      }
      await sb.cleanup();
    }
  },
);
