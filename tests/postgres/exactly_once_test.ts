import assert from "node:assert/strict";
import {
  connectPostgres,
  PostgresStateStore,
  ScheduleMinuteConflictError,
} from "../../src/store/postgres/mod.ts";
import { type PgScope, pgTest, runScript } from "./_pg.ts";

const MINUTE = "2026-05-01T10:00:00.000Z";
const enqueued = { event: "schedule_enqueued", schedule_id: "s", minute_utc: MINUTE };

/** Runs `fn` once per client, each on its own connection, all at once. */
async function onClients<T>(
  scope: PgScope,
  n: number,
  fn: (store: PostgresStateStore, i: number) => Promise<T>,
  options: { serialize?: boolean } = {},
): Promise<PromiseSettledResult<T>[]> {
  const clients = Array.from({ length: n }, () => connectPostgres(scope.config, { max: 1 }));
  try {
    await Promise.all(clients.map((c) => c`select 1`));
    return await Promise.allSettled(
      clients.map((c, i) => fn(new PostgresStateStore(c, { schema: scope.schema, ...options }), i)),
    );
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

async function minuteRows(scope: PgScope): Promise<number> {
  const [{ n }] = await scope.sql`select count(*)::int as n from schedule_minutes`;
  return n;
}

pgTest(
  "6 concurrent read-decide-append transactions enqueue a schedule-minute once",
  async (scope) => {
    const results = await onClients(scope, 6, (store) =>
      store.transaction(async (tx) => {
        const recorded = await tx.scheduleMinutes(new Date(MINUTE));
        if (recorded.some((e) => e.schedule_id === "s")) return false;
        tx.append(enqueued);
        return true;
      }));
    const won = results.map((r) => r.status === "fulfilled" && r.value);
    assert.equal(won.filter(Boolean).length, 1, JSON.stringify(results));
    assert.equal(await minuteRows(scope), 1);
  },
);

pgTest(
  "6 concurrent blind appends: the UNIQUE constraint lets one win, the rest roll back",
  async (scope) => {
    const results = await onClients(
      scope,
      6,
      (store, i) =>
        store.transaction((tx) => {
          tx.append({ event: "run_started", run_id: `r${i}` }, enqueued);
          return Promise.resolve(i);
        }),
      { serialize: false },
    );
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected");
    assert.equal(won.length, 1);
    assert.equal(lost.length, 5);
    for (const r of lost) assert.ok(r.reason instanceof ScheduleMinuteConflictError, r.reason);
    assert.equal(await minuteRows(scope), 1);
    const runs = await scope.sql`select run_id from state_events where run_id is not null`;
    assert.equal(runs.length, 1, "the losers' other events rolled back too");
  },
);

pgTest(
  "3 scheduler processes over 10 simulated minutes enqueue each schedule-minute once",
  async (scope) => {
    const start = "2026-05-01T10:00:00.000Z";
    const goAt = String(Date.now() + 2500);
    const results = await Promise.all(
      [0, 1, 2].map(() => runScript("./_tick_child.ts", [scope.url, start, "10", goAt])),
    );
    const all: string[] = [];
    for (const r of results) {
      assert.equal(r.code, 0, r.stderr);
      all.push(...JSON.parse(r.stdout));
    }
    assert.equal(all.length, 30, "3 schedules x 10 minutes");
    assert.equal(new Set(all).size, 30, "no schedule-minute enqueued twice");
    assert.equal(await minuteRows(scope), 30);
    console.log(`  winners per process: ${results.map((r) => JSON.parse(r.stdout).length)}`);
  },
);
