import assert from "node:assert/strict";
import { ManualClock } from "../../src/lib/mod.ts";
import type { StateStoreLike } from "../../src/store/mod.ts";
import { Scheduler } from "../../src/schedule/mod.ts";
import {
  PostgresEventLog,
  PostgresRunLiveness,
  PostgresStateStore,
  PostgresTaskEvents,
} from "../../src/store/postgres/mod.ts";
import { orch } from "../helpers/cli.ts";
import { testSchedule } from "../helpers/schedule.ts";
import { pgTest } from "./_pg.ts";

const NOW = new Date("2026-05-01T10:05:12Z");
const never = () => true;

pgTest(
  "PostgresRunLiveness: a run is dead once its heartbeat is older than the bound",
  async (scope) => {
    const a = new PostgresRunLiveness(scope.sql, { host: "host-a", pid: 11, heartbeatMs: 40 });
    const b = new PostgresRunLiveness(scope.sql, { host: "host-b", heartbeatMs: 40 });
    const run = { runId: "r", started: true, pid: 11, host: "host-a", since: new Date() };
    const check = { host: "host-b", now: new Date(), processMayBeAlive: never };
    try {
      const lock = await a.acquire("r");
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(await b.isDead(run, check), null, "heartbeating: alive on another host");
      await a.close(); // the process hangs: no more heartbeats, nothing released
      await new Promise((r) => setTimeout(r, 250));
      assert.match(String(await b.isDead(run, check)), /no heartbeat from process 11 on "host-a"/);
      lock.release(); // released without run_finished
      await a.close(); // waits for the release's write
      assert.match(String(await b.isDead(run, check)), /stopped its heartbeat/);
    } finally {
      await a.close();
      await b.close();
    }
  },
);

pgTest(
  "PostgresRunLiveness: a run of this host whose process is gone is dead at once",
  async (scope) => {
    const live = new PostgresRunLiveness(scope.sql, { host: "h", pid: 4_194_400 });
    try {
      const lock = await live.acquire("r");
      const run = { runId: "r", started: true, pid: 4_194_400, host: "h", since: new Date() };
      const gone = await live.isDead(run, {
        host: "h",
        now: new Date(),
        processMayBeAlive: () => false,
      });
      assert.match(String(gone), /process 4194400 on "h" is gone/);
      assert.equal(
        await live.isDead(run, { host: "h", now: new Date(), processMayBeAlive: never }),
        null,
      );
      lock.release();
    } finally {
      await live.close();
    }
  },
);

pgTest(
  "PostgresRunLiveness: isDead() sees this process's release sent just before it",
  async (scope) => {
    const live = new PostgresRunLiveness(scope.sql, { host: "h", pid: 12 });
    const run = { runId: "r", started: false, pid: 12, host: "h", since: new Date() };
    const check = { host: "h", now: new Date(), processMayBeAlive: never };
    const blocker = await scope.sql.reserve();
    try {
      const lock = await live.acquire("r");
      await blocker`begin`;
      await blocker`select 1 from runs where run_id = 'r' for update`;
      lock.release(); // its write waits for the row, as a slow connection would
      const verdict = live.isDead(run, check);
      await new Promise((r) => setTimeout(r, 100));
      await blocker`commit`;
      assert.match(String(await verdict), /stopped its heartbeat before it started/);
    } finally {
      blocker.release();
      await live.close();
    }
  },
);

pgTest("PostgresTaskEvents.scanRun() reads one run's events newest first", async (scope) => {
  await scope.sql`insert into events (run_id, event, ts, body) values
    ('a', 'dag_start', now(), '{"n":1}'), ('b', 'dag_start', now(), '{"n":2}'),
    ('a', 'task_ok', now(), '{"n":3}')`;
  const got = await Array.fromAsync(new PostgresTaskEvents(scope.sql).scanRun("a"));
  assert.deepEqual(got.map((e) => e.n), [3, 1]);
});

pgTest(
  "Scheduler.tick() that loses a schedule-minute to another writer enqueues nothing and does not throw",
  async (scope) => {
    const liveness = new PostgresRunLiveness(scope.sql, { host: "h" });
    const notices: string[] = [];
    const pg = new PostgresStateStore(scope.sql, { schema: scope.schema, serialize: false });
    // The loser decided on a stale read (as when two unserialised ticks race): it sees no
    // recorded minute, plans the same one, and only the UNIQUE constraint stops it.
    const stale: StateStoreLike = {
      recordEvent: (e) => pg.recordEvent(e),
      lastRuns: (n) => pg.lastRuns(n),
      indexBy: (k, n) => pg.indexBy(k, n),
      scanBackward: () => pg.scanBackward(),
      readWatermarks: () => pg.readWatermarks(),
      transaction: (fn) =>
        pg.transaction((tx) =>
          fn({
            ...tx,
            scheduleMinutes: () => Promise.resolve([]),
            watermarks: () => Promise.resolve(new Map()),
          })
        ),
    };
    const scheduler = (store: StateStoreLike) =>
      new Scheduler({
        store,
        backend: {
          liveness,
          taskEvents: new PostgresTaskEvents(scope.sql),
          openEventLog: () => new PostgresEventLog(scope.sql),
        },
        schedules: [testSchedule("s", { overlap: "allow" })],
        clock: new ManualClock(NOW),
        sleep: () => Promise.resolve(),
        launch: () => Promise.resolve("success"),
        maxParallel: 1,
        host: "h",
        onNotice: (l) => notices.push(l),
      });
    try {
      const winner = scheduler(pg);
      assert.equal((await winner.tick(NOW)).enqueued.length, 1);
      await winner.drain();
      const loser = scheduler(stale);
      const report = await loser.tick(NOW);
      assert.deepEqual(report, { at: NOW, enqueued: [], skipped: [], recovered: [] });
      assert.ok(
        notices.some((l) => /tick lost a race for s 2026-05-01T10:05/.test(l)),
        notices.join("\n"),
      );
      const [{ n }] = await scope.sql`select count(*)::int as n from schedule_minutes`;
      assert.equal(n, 1);
    } finally {
      await liveness.close();
    }
  },
);

pgTest("orch dashboard --store on an unreachable server exits 2 before listening", async () => {
  const dir = await Deno.makeTempDir({ prefix: "orch_wiring_" });
  try {
    const r = await orch(
      ["dashboard", "--port", "0", "--store", "postgres://postgres@127.0.0.1:1/orch_test"],
      { cwd: dir, env: {} },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.doesNotMatch(r.stderr, /Dashboard at/);
    assert.match(r.stderr, /127\.0\.0\.1:1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
