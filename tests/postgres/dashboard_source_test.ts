import assert from "node:assert/strict";
import type { RunSink } from "../../src/dashboard/mod.ts";
import { PostgresRunSource } from "../../src/store/postgres/dashboard_source.ts";
import { pgTest } from "./_pg.ts";

function collector() {
  const got = { events: [] as string[], state: [] as string[], resets: 0 };
  const sink: RunSink = {
    runEvent: (line) => got.events.push(String(line.task_id ?? line.event)),
    stateEvent: (line) => got.state.push(String(line.event)),
    reset: () => {
      got.resets++;
      got.events = [];
      got.state = [];
    },
  };
  return { got, sink };
}

function eventRow(taskId: string) {
  return { run_id: "r1", event: "task_ok", timestamp: new Date().toISOString(), task_id: taskId };
}

pgTest(
  "PostgresRunSource.poll() hands over a row committed after a larger id was read",
  async (scope) => {
    const source = new PostgresRunSource(scope.sql);
    const { got, sink } = collector();
    const insert = (sql: typeof scope.sql, taskId: string) =>
      sql`insert into events (run_id, event, ts, body)
        values ('r1', 'task_ok', now(), ${sql.json(eventRow(taskId))})`;
    const slow = await scope.sql.reserve();
    try {
      await insert(scope.sql, "a");
      await slow`begin`;
      await insert(slow, "late"); // takes id 2, commits last
      await insert(scope.sql, "c"); // id 3, visible first
      await source.poll(sink);
      assert.deepEqual(got.events, ["a", "c"]);
      assert.equal(source.stats().events.pendingBytes, 1, "id 2 is watched");
      await slow`commit`;
      await source.poll(sink);
      assert.deepEqual(got.events, ["a", "c", "late"]);
      await source.poll(sink);
      assert.deepEqual(got.events, ["a", "c", "late"], "nothing twice");
      assert.equal(source.stats().events.pendingBytes, 0);
    } finally {
      slow.release();
    }
  },
);

pgTest(
  "PostgresRunSource.poll() resets when the tables were emptied, then reads again",
  async (scope) => {
    const source = new PostgresRunSource(scope.sql);
    const { got, sink } = collector();
    const state = (event: string) =>
      scope.sql`insert into state_events (event, ts, run_id, body)
        values (${event}, now(), 'r1', ${scope.sql.json({ event, run_id: "r1" })})`;
    await state("run_started");
    await state("run_finished");
    await source.poll(sink);
    assert.deepEqual(got.state, ["run_started", "run_finished"]);
    await scope.sql`truncate state_events restart identity cascade`;
    await state("run_started");
    await source.poll(sink);
    assert.equal(got.resets, 1);
    assert.deepEqual(got.state, ["run_started"]);
    assert.equal(source.stats().state.lines, 1);
  },
);
