import assert from "node:assert/strict";
import { join } from "node:path";
import { ManualClock } from "../../src/lib/mod.ts";
import { StateStore } from "../../src/store/mod.ts";
import {
  PostgresStateStore,
  ScheduleMinuteConflictError,
  type StateStoreLike,
} from "../../src/store/postgres/mod.ts";
import { pgTest } from "./_pg.ts";

const start = new Date("2026-05-01T10:00:00.000Z");
const minute = (m: number) => new Date(start.getTime() + m * 60_000).toISOString();

Deno.test("StateStoreLike is satisfied by the JSONL StateStore and PostgresStateStore", () => {
  // Type-level: these assignments fail `deno check` if either class drifts from the interface.
  const jsonl: StateStoreLike = new StateStore(join(Deno.cwd(), "never-written.jsonl"));
  const pg: (sql: ConstructorParameters<typeof PostgresStateStore>[0]) => StateStoreLike = (
    sql,
  ) => new PostgresStateStore(sql);
  assert.equal(typeof jsonl.transaction, "function");
  assert.equal(typeof pg, "function");
});

pgTest("recordEvent() stores timestamp and v and returns the event", async ({ sql, schema }) => {
  const store = new PostgresStateStore(sql, { schema, clock: new ManualClock(start) });
  const written = await store.recordEvent({ event: "run_finished", status: "success" });
  assert.deepEqual(written, {
    timestamp: "2026-05-01T10:00:00.000Z",
    v: 1,
    event: "run_finished",
    status: "success",
  });
  assert.deepEqual(await store.lastRuns(), [written]);
  const [row] = await sql`select event, ts, schedule_id, run_id from state_events`;
  assert.deepEqual(row, { event: "run_finished", ts: start, schedule_id: null, run_id: null });
});

pgTest("lastRuns() returns the newest events oldest first", async ({ sql, schema }) => {
  const store = new PostgresStateStore(sql, { schema, clock: new ManualClock(start) });
  assert.deepEqual(await store.lastRuns(), []);
  for (let i = 0; i < 30; i++) await store.recordEvent({ event: "run_started", n: i });
  const events = await store.lastRuns(20);
  assert.deepEqual(events.map((e) => e.n), Array.from({ length: 20 }, (_, i) => i + 10));
  assert.equal((await store.lastRuns(100)).length, 30);
  assert.deepEqual(await store.lastRuns(0), []);
});

pgTest(
  "indexBy() groups the newest events having the key in append order",
  async ({ sql, schema }) => {
    const store = new PostgresStateStore(sql, { schema, clock: new ManualClock(start) });
    assert.deepEqual(await store.indexBy("schedule_id"), {});
    await store.recordEvent({ event: "schedule_enqueued", schedule_id: "a", n: 1, tenant: "x" });
    await store.recordEvent({ event: "run_started", n: 2, tenant: null });
    await store.recordEvent({ event: "schedule_enqueued", schedule_id: "b", n: 3, tenant: "y" });
    await store.recordEvent({ event: "schedule_enqueued", schedule_id: "a", n: 4 });
    await store.recordEvent({ event: "run_finished", n: 5 });
    const all = await store.indexBy("schedule_id", 100);
    assert.deepEqual(Object.keys(all).sort(), ["a", "b"]);
    assert.deepEqual(all.a.map((e) => e.n), [1, 4]);
    assert.deepEqual(all.b.map((e) => e.n), [3]);
    const two = await store.indexBy("schedule_id", 2);
    assert.deepEqual(two.a.map((e) => e.n), [4]);
    assert.deepEqual(two.b.map((e) => e.n), [3]);
    // A key without its own column is looked up in the body; null counts as absent.
    const byTenant = await store.indexBy("tenant");
    assert.deepEqual(Object.keys(byTenant).sort(), ["x", "y"]);
    const byN = await store.indexBy("n", 1);
    assert.deepEqual(byN, { "5": [(await store.lastRuns(1))[0]] });
  },
);

pgTest("scanBackward() pages through every event newest first", async ({ sql, schema }) => {
  const store = new PostgresStateStore(sql, { schema, clock: new ManualClock(start) });
  await store.transaction((tx) => {
    tx.append(...Array.from({ length: 1203 }, (_, i) => ({ event: "e", i })));
    return Promise.resolve();
  });
  const seen: number[] = [];
  for await (const e of store.scanBackward()) seen.push(e.i as number);
  assert.deepEqual(seen, Array.from({ length: 1203 }, (_, i) => 1202 - i));
});

pgTest("transaction() writes nothing when the callback throws", async ({ sql, schema }) => {
  const store = new PostgresStateStore(sql, { schema, clock: new ManualClock(start) });
  await assert.rejects(
    store.transaction((tx) => {
      tx.append({ event: "schedule_enqueued", schedule_id: "s", minute_utc: minute(0) });
      tx.setWatermarks(new Map([["s", start]]));
      return Promise.reject(new Error("boom"));
    }),
    /boom/,
  );
  assert.deepEqual(await store.lastRuns(), []);
  assert.deepEqual(await store.readWatermarks(), new Map());
  const [{ n }] = await sql`select count(*)::int as n from schedule_minutes`;
  assert.equal(n, 0);
});

pgTest(
  "transaction() reads schedule-minutes of a window and keeps the later watermark",
  async ({ sql, schema }) => {
    const clock = new ManualClock(start);
    const store = new PostgresStateStore(sql, { schema, clock });
    for (let m = 0; m < 60; m++) {
      clock.set(new Date(minute(m)));
      const kind = m % 7 === 0 ? "schedule_skipped" : "schedule_enqueued";
      await store.recordEvent({ event: kind, schedule_id: "s", minute_utc: minute(m) });
      await store.recordEvent({ event: "run_started", run_id: `r${m}` });
    }
    const found = await store.transaction(async (tx) => {
      tx.setWatermarks(new Map([["s", new Date(minute(59))]]));
      assert.equal((await tx.lastRuns(1))[0].run_id, "r59");
      return await tx.scheduleMinutes(new Date(minute(55)));
    });
    assert.deepEqual(found.map((e) => e.minute_utc), [55, 56, 57, 58, 59].map(minute));
    assert.deepEqual(found.map((e) => e.event)[1], "schedule_skipped");
    assert.equal(found[0].timestamp, minute(55));
    await store.transaction(async (tx) => {
      assert.equal((await tx.watermarks()).get("s")?.toISOString(), minute(59));
      tx.setWatermarks(new Map([["s", new Date(minute(10))], ["t", new Date(minute(1))]]));
    });
    const marks = await store.readWatermarks();
    assert.equal(marks.get("s")?.toISOString(), minute(59));
    assert.equal(marks.get("t")?.toISOString(), minute(1));
  },
);

pgTest(
  "transaction() rolls back everything when a schedule-minute is already recorded",
  async ({ sql, schema }) => {
    const store = new PostgresStateStore(sql, { schema, clock: new ManualClock(start) });
    const at = { schedule_id: "s", minute_utc: "2026-05-01T10:00:00Z" };
    await store.recordEvent({ event: "schedule_enqueued", ...at });
    await assert.rejects(
      store.transaction((tx) => {
        tx.append({ event: "run_started", run_id: "r1" });
        tx.append({ event: "schedule_skipped", schedule_id: "s", minute_utc: minute(1) });
        tx.append({ event: "schedule_skipped", ...at, reason: "overlap" });
        tx.setWatermarks(new Map([["s", new Date(minute(5))]]));
        return Promise.resolve();
      }),
      (err: unknown) => {
        assert.ok(err instanceof ScheduleMinuteConflictError);
        assert.deepEqual(err.keys, [`s ${minute(0)}`]);
        return true;
      },
    );
    assert.deepEqual((await store.lastRuns()).map((e) => e.event), ["schedule_enqueued"]);
    assert.deepEqual(await store.readWatermarks(), new Map());
  },
);
