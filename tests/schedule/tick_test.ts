import assert from "node:assert/strict";
import {
  minuteKey,
  minuteKeys,
  planTick,
  type TickInput,
  type TickSchedule,
  tickWindowStart,
} from "../../src/schedule/mod.ts";
import type { StateStoreLike } from "../../src/store/mod.ts";
import { withTestStore } from "../helpers/backend.ts";

const MIN = 60_000;

function schedule(overrides: Partial<TickSchedule> = {}): TickSchedule {
  return {
    id: "etl",
    cron: "*/5 * * * *",
    timezone: "UTC",
    catchupWindowMs: null,
    enabled: true,
    overlap: "skip",
    dag: "configs/dags/etl.yaml",
    tenant: "local-dev",
    ...overrides,
  };
}

function input(overrides: Partial<TickInput> = {}): TickInput {
  return {
    schedules: [schedule()],
    watermarks: new Map(),
    enqueuedKeys: new Set(),
    runningBySchedule: new Map(),
    now: new Date("2026-05-01T10:05:12Z"),
    ...overrides,
  };
}

Deno.test("planTick() enqueues a schedule whose cron matches the current minute", () => {
  const plan = planTick(input());
  assert.deepEqual(plan.enqueue, [{
    event: "schedule_enqueued",
    schedule_id: "etl",
    minute: "2026-05-01T10:05",
    minute_utc: "2026-05-01T10:05:00.000Z",
    timezone: "UTC",
    dag: "configs/dags/etl.yaml",
    tenant: "local-dev",
  }]);
  assert.deepEqual(plan.skip, []);
  assert.deepEqual(plan.watermarks, new Map([["etl", new Date("2026-05-01T10:05:00Z")]]));
});

Deno.test("planTick() does not enqueue a schedule-minute already recorded", () => {
  const keys = minuteKeys([{ schedule_id: "etl", minute_utc: "2026-05-01T10:05:00.000Z" }]);
  const plan = planTick(input({ enqueuedKeys: keys }));
  assert.deepEqual(plan.enqueue, []);
  assert.deepEqual(plan.skip, []);
});

Deno.test("planTick() run twice in one minute enqueues once", () => {
  const first = planTick(input());
  const second = planTick(input({
    watermarks: first.watermarks,
    enqueuedKeys: minuteKeys(first.enqueue),
    now: new Date("2026-05-01T10:05:40Z"),
  }));
  assert.equal(first.enqueue.length, 1);
  assert.deepEqual(second.enqueue, []);
});

Deno.test("planTick() skips a minute whose previous run still runs, unless overlap is allow", () => {
  const running = new Map([["etl", 1]]);
  const plan = planTick(input({ runningBySchedule: running }));
  assert.deepEqual(plan.enqueue, []);
  assert.equal(plan.skip.length, 1);
  assert.equal(plan.skip[0].reason, "overlap");
  assert.equal(plan.skip[0].minute, "2026-05-01T10:05");
  const allow = planTick(
    input({ schedules: [schedule({ overlap: "allow" })], runningBySchedule: running }),
  );
  assert.equal(allow.enqueue.length, 1);
});

Deno.test("planTick() enqueues nothing for a disabled schedule but moves its watermark", () => {
  const plan = planTick(input({ schedules: [schedule({ enabled: false })] }));
  assert.deepEqual(plan.enqueue, []);
  assert.deepEqual(plan.skip, []);
  assert.equal(plan.watermarks.get("etl")?.toISOString(), "2026-05-01T10:05:00.000Z");
});

Deno.test("planTick() on a late tick covers every minute since the previous tick", () => {
  const plan = planTick(input({
    schedules: [schedule({ cron: "* * * * *" })],
    watermarks: new Map([["etl", new Date("2026-05-01T10:02:00Z")]]),
    enqueuedKeys: new Set([minuteKey("etl", "2026-05-01T10:03:00Z")]),
  }));
  assert.deepEqual(plan.enqueue.map((e) => [e.minute, e.catchup]), [
    ["2026-05-01T10:04", true],
    ["2026-05-01T10:05", undefined],
  ]);
});

Deno.test("planTick() records catch-up beyond the cap as catchup_cap skips", () => {
  const plan = planTick(input({
    schedules: [schedule({ cron: "* * * * *", catchupWindowMs: 60 * MIN })],
    watermarks: new Map([["etl", new Date("2026-05-01T09:00:00Z")]]),
  }));
  assert.equal(plan.enqueue.length, 11);
  assert.equal(plan.enqueue[0].minute, "2026-05-01T09:06");
  assert.equal(plan.skip.length, 59 - 10, "missed 09:06..10:04, 10 enqueued");
  assert.ok(plan.skip.every((s) => s.reason === "catchup_cap"));
});

Deno.test("planTick() simulated over a day with ticks every minute enqueues each fire time once", () => {
  let watermarks: ReadonlyMap<string, Date> = new Map();
  const keys = new Set<string>();
  let count = 0;
  const start = Date.parse("2026-05-01T00:00:00Z");
  for (let t = start; t < start + 24 * 60 * MIN; t += 30_000) {
    const plan = planTick(input({ watermarks, enqueuedKeys: keys, now: new Date(t) }));
    for (const e of plan.enqueue) {
      const key = minuteKey(e.schedule_id, e.minute_utc);
      assert.ok(!keys.has(key), key);
      keys.add(key);
      count++;
    }
    watermarks = plan.watermarks;
  }
  assert.equal(count, 24 * 12);
});

Deno.test("planTick() keys the repeated local minute of a DST fall back on the UTC instant", () => {
  const s = schedule({ cron: "30 * * * *", timezone: "America/New_York" });
  const first = planTick(input({ schedules: [s], now: new Date("2026-11-01T05:30:00Z") }));
  const second = planTick(input({
    schedules: [s],
    watermarks: first.watermarks,
    enqueuedKeys: minuteKeys(first.enqueue),
    now: new Date("2026-11-01T06:30:00Z"),
  }));
  assert.equal(first.enqueue[0].minute, "2026-11-01T01:30");
  assert.equal(second.enqueue[0].minute, "2026-11-01T01:30");
  assert.notEqual(first.enqueue[0].minute_utc, second.enqueue[0].minute_utc);
});

/** One scheduler tick as the engine runs it: read, plan and record under the store's lock. */
async function tickUnderLock(
  store: StateStoreLike,
  schedules: TickSchedule[],
  now: Date,
): Promise<number> {
  return await store.transaction(async (tx) => {
    const recorded = await tx.scheduleMinutes(tickWindowStart(schedules, now));
    const plan = planTick(input({
      schedules,
      now,
      watermarks: await tx.watermarks(),
      enqueuedKeys: minuteKeys(recorded),
    }));
    tx.append(...plan.enqueue, ...plan.skip);
    tx.setWatermarks(plan.watermarks);
    return plan.enqueue.length;
  });
}

Deno.test("planTick() inside StateStore.transaction() enqueues once across concurrent ticks", async () => {
  await withTestStore(async ({ state: store }) => {
    const schedules = [schedule()];
    const now = new Date("2026-05-01T10:05:12Z");
    const tick = () => tickUnderLock(store, schedules, now);
    const counts = await Promise.all([tick(), tick(), tick()]);
    assert.deepEqual(counts.sort(), [0, 0, 1]);
    assert.equal((await store.lastRuns()).length, 1);
    assert.equal(
      (await store.readWatermarks()).get("etl")?.toISOString(),
      "2026-05-01T10:05:00.000Z",
    );
  });
});
