import assert from "node:assert/strict";
import { ManualClock } from "../../src/lib/mod.ts";
import { type LaunchRun, Scheduler } from "../../src/schedule/mod.ts";
import {
  knownAfterTick,
  type KnownFires,
  schedulesToPlan,
} from "../../src/schedule/known_fires.ts";
import type { Schedule } from "../../src/schedule/schema.ts";
import type { RunStatus, Store } from "../../src/store/mod.ts";
import { testStore } from "../helpers/backend.ts";
import { testSchedule } from "../helpers/schedule.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;

/** Schedules of every kind the fast path must treat as a full tick would. */
const SCHEDULES: Schedule[] = [
  testSchedule("every", { cron: "* * * * *" }),
  testSchedule("seven", { cron: "*/7 * * * *" }),
  testSchedule("ny_fixed", { cron: "30 2 * * *", timezone: "America/New_York" }),
  testSchedule("ny_fallback", { cron: "30 1 * * *", timezone: "America/New_York" }),
  testSchedule("ny_interval", { cron: "*/20 1-3 * * *", timezone: "America/New_York" }),
  testSchedule("berlin", { cron: "*/30 2 * * *", timezone: "Europe/Berlin" }),
  testSchedule("hourly_catchup", { cron: "0 * * * *", catchupWindowMs: 3 * HOUR }),
  testSchedule("off", { cron: "* * * * *", enabled: false }),
  testSchedule("slow", { cron: "*/5 * * * *" }), // runs never end: overlap skips
  testSchedule("slow_allow", { cron: "*/10 * * * *", overlap: "allow" }),
  testSchedule("never", { cron: "0 0 30 2 *" }), // 30 February: never fires
];

/** Minutes to tick at: minute by minute, with missed stretches (a late or absent cron). */
function ticks(startIso: string, pattern: number[]): Date[] {
  const out: Date[] = [];
  let t = new Date(startIso).getTime();
  for (const step of pattern) {
    t += step * MIN;
    out.push(new Date(t + 7_000)); // a few seconds into the minute, as cron calls
  }
  return out;
}

const WINDOWS: [string, string, number[]][] = [
  // New York springs forward at 07:00Z (02:00 EST -> 03:00 EDT).
  ["New York spring forward", "2026-03-08T05:55:00Z", [
    ...Array(50).fill(1),
    17,
    ...Array(20).fill(1),
    3,
    ...Array(10).fill(1),
    200,
    1,
    1,
  ]],
  // Berlin springs forward at 01:00Z (02:00 CET -> 03:00 CEST).
  ["Berlin spring forward", "2026-03-29T00:40:00Z", [...Array(40).fill(1), 9, 1, 1, 61, 1]],
  // New York falls back at 06:00Z (01:59 EDT -> 01:00 EST): 01:xx happens twice.
  ["New York fall back", "2026-11-01T04:50:00Z", [
    ...Array(70).fill(1),
    25,
    ...Array(60).fill(1),
    8,
    1,
  ]],
];

interface Path {
  store: Store;
  known?: KnownFires;
  /** Schedules a tick had to plan, summed over the ticks. */
  planned: number;
  cleanup(): Promise<void>;
}

/** Launches that end at once, except those of the `slow*` schedules, which never end. */
const launch: LaunchRun = (run) =>
  run.scheduleId.startsWith("slow")
    ? new Promise<RunStatus>(() => {})
    : Promise.resolve("success" as const);

async function tickOnce(p: Path, now: Date, fast: boolean): Promise<void> {
  const clock = new ManualClock(now);
  if (fast && p.known) {
    const watermarks = await p.store.state.transaction((tx) => tx.watermarks());
    p.planned += schedulesToPlan(SCHEDULES, p.known, { watermarks, now }).length;
  } else p.planned += SCHEDULES.length;
  // One Scheduler per tick, as `scheduler --once` is one process per minute.
  const s = new Scheduler({
    store: p.store.state,
    backend: p.store,
    schedules: SCHEDULES,
    clock,
    sleep: () => Promise.resolve(),
    launch,
    maxParallel: 100,
    host: "testhost",
    known: fast ? p.known : undefined,
  });
  const report = await s.tick(now);
  // Let the runs that end at once end (their locks are released), as --once drains them.
  const slow = report.enqueued.filter((r) => r.scheduleId.startsWith("slow")).length;
  while (s.pending.active > slow) await new Promise((r) => setTimeout(r, 0));
  if (fast) p.known = knownAfterTick(SCHEDULES, now, p.known);
}

/**
 * The events with what differs between two processes (run ids, pids, times) taken out.
 * A run is named by its schedule-minute, not by the order its events were written in:
 * runs started in one tick record concurrently, in any order.
 */
async function recorded(store: Store): Promise<string[]> {
  const ids = new Map<string, string>();
  const events = await store.state.lastRuns(100_000);
  for (const e of events) {
    if (e.event === "schedule_enqueued" && typeof e.run_id === "string") {
      ids.set(e.run_id, `${e.schedule_id}@${e.minute_utc}`);
    }
  }
  return events.reverse().map((e) => {
    const { timestamp: _t, ts: _ts, pid: _pid, run_id, host: _host, duration_s: _d, ...rest } = e as
      & Record<string, unknown>
      & { run_id?: string };
    if (run_id !== undefined && !ids.has(run_id)) ids.set(run_id, `run${ids.size}`);
    return JSON.stringify({ ...rest, run: run_id === undefined ? undefined : ids.get(run_id) });
  }).sort();
}

async function watermarks(store: Store): Promise<string> {
  const w = await store.state.transaction((tx) => tx.watermarks());
  return JSON.stringify([...w].map(([id, at]) => [id, at.toISOString()]).sort());
}

async function newPath(): Promise<Path> {
  const dir = await Deno.makeTempDir({ prefix: "orch_known_" });
  const ts = await testStore(dir);
  return {
    store: ts.store,
    planned: 0,
    async cleanup() {
      await ts.cleanup();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("Scheduler.tick() with known fire times records exactly what the full tick records", async (t) => {
  for (const [name, start, pattern] of WINDOWS) {
    await t.step(name, async () => {
      const full = await newPath();
      const fast = await newPath();
      try {
        for (const now of ticks(start, pattern)) {
          await tickOnce(full, now, false);
          await tickOnce(fast, now, true);
          assert.equal(
            await watermarks(fast.store),
            await watermarks(full.store),
            `watermarks at ${now.toISOString()}`,
          );
        }
        const [a, b] = [await recorded(full.store), await recorded(fast.store)];
        assert.ok(a.some((e) => e.includes('"catchup":true')), "the window has catch-up runs");
        assert.ok(a.some((e) => e.includes('"reason":"overlap"')), "and overlap skips");
        assert.deepEqual(b, a);
        assert.ok(
          fast.planned < full.planned / 2,
          `the fast path planned ${fast.planned} schedules, the full ${full.planned}`,
        );
      } finally {
        await full.cleanup();
        await fast.cleanup();
      }
    });
  }
});

Deno.test("schedulesToPlan() keeps a schedule whose watermark is behind or unknown", () => {
  const at = new Date("2026-05-01T10:00:00Z");
  const s = [testSchedule("a"), testSchedule("b"), testSchedule("c"), testSchedule("d")];
  const later = new Date("2026-05-01T12:00:00Z");
  const known: KnownFires = {
    at,
    next: new Map([["a", later], ["b", later], ["c", later]]),
  };
  const ids = (now: string, marks: [string, string][]) =>
    schedulesToPlan(s, known, {
      now: new Date(now),
      watermarks: new Map(marks.map(([id, iso]) => [id, new Date(iso)])),
    }).map((x) => x.id);
  const atIso = at.toISOString();
  // a: watermark at the known tick, next fire ahead: left out. b: behind: planned.
  // c: no watermark, in the known tick's own minute: planned (it may fire in it).
  // d: not known at all: planned.
  assert.deepEqual(
    ids("2026-05-01T10:00:30Z", [["a", atIso], ["b", "2026-05-01T09:59:00Z"]]),
    ["b", "c", "d"],
  );
  // A later minute: b and c without a watermark are left out now (no fire time at or
  // before 11:00 after the known tick), d is not known.
  assert.deepEqual(ids("2026-05-01T11:00:00Z", [["a", atIso]]), ["d"]);
  // a's next fire time reached: planned.
  assert.deepEqual(ids("2026-05-01T12:00:00Z", [["a", atIso]]), ["a", "b", "c", "d"]);
});
