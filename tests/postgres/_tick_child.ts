// One scheduler process for the exactly-once test: ticks the same simulated minutes as
// its siblings against one PostgreSQL schema, deciding each tick with the pure planTick
// inside a PostgresStateStore transaction, and prints the schedule-minutes it enqueued
// as one JSON array. Usage: _tick_child.ts URL START_ISO MINUTES GO_AT_MS (a wall-clock
// instant at which all siblings start; minute m begins 150 ms * m later, so they race)
import { ManualClock } from "../../src/lib/mod.ts";
import {
  minuteKey,
  minuteKeys,
  planTick,
  type TickSchedule,
  tickWindowStart,
} from "../../src/schedule/mod.ts";
import {
  connectPostgres,
  parseStoreConfig,
  PostgresStateStore,
} from "../../src/store/postgres/mod.ts";

const [url, startIso, minutes, goAt] = Deno.args;
const config = parseStoreConfig(url);
if (config.kind !== "postgres") throw new TypeError("postgres URL expected");
const sql = connectPostgres(config, { max: 1 });
const clock = new ManualClock(new Date(startIso));
const store = new PostgresStateStore(sql, { schema: config.schema, clock });
const schedules: TickSchedule[] = ["a", "b", "c"].map((id) => ({
  id,
  cron: "* * * * *",
  timezone: "UTC",
  catchupWindowMs: null,
  enabled: true,
  overlap: "allow",
  dag: `${id}.yaml`,
  tenant: "t",
}));
const won: string[] = [];
try {
  await sql`select 1`;
  for (let m = 0; m < Number(minutes); m++) {
    // Simulated minute m starts for every sibling at the same wall-clock instant.
    const at = Number(goAt) + m * 150;
    await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
    // Each process reaches the minute at a slightly different instant, as real ones do.
    const now = new Date(Date.parse(startIso) + m * 60_000 + Math.floor(Math.random() * 50_000));
    clock.set(now);
    const plan = await store.transaction(async (tx) => {
      const recorded = await tx.scheduleMinutes(tickWindowStart(schedules, now));
      const p = planTick({
        schedules,
        watermarks: await tx.watermarks(),
        enqueuedKeys: minuteKeys(recorded),
        runningBySchedule: new Map(),
        now,
      });
      tx.append(...p.enqueue, ...p.skip);
      tx.setWatermarks(p.watermarks);
      return p;
    });
    for (const e of plan.enqueue) won.push(minuteKey(e.schedule_id, e.minute_utc));
  }
} finally {
  await sql.end();
}
console.log(JSON.stringify(won));
