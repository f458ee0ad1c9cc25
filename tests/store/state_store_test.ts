import assert from "node:assert/strict";
import { join } from "node:path";
import { ManualClock } from "../../src/lib/mod.ts";
import {
  indexBy,
  lastRuns,
  recordEvent,
  StateStore,
  type StoreWarning,
} from "../../src/store/mod.ts";
import { jsonlOnly, withTestStore } from "../helpers/backend.ts";

/** Why a test runs on the JSONL backend only: it is about the file itself. */
const FILE = "about the JSONL file (lines, locks, chunks); the store contract runs on both";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "orch_state_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function collector(): { warnings: StoreWarning[]; onWarning: (w: StoreWarning) => void } {
  const warnings: StoreWarning[] = [];
  return { warnings, onWarning: (w) => warnings.push(w) };
}

const start = new Date("2026-05-01T10:00:00.000Z");

Deno.test({
  name: "recordEvent() appends with timestamp and v and returns the event",
  ignore: jsonlOnly(FILE),
}, async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "logs", "state.jsonl");
    const clock = new ManualClock(start);
    const written = await recordEvent({ event: "run_finished", status: "success" }, {
      path,
      clock,
    });
    assert.deepEqual(written, {
      timestamp: "2026-05-01T10:00:00.000Z",
      v: 1,
      event: "run_finished",
      status: "success",
    });
    const text = await Deno.readTextFile(path);
    assert.equal(text, JSON.stringify(written) + "\n");
  });
});

Deno.test("lastRuns() returns the newest events oldest first", async () => {
  await withTestStore(async ({ state: store }) => {
    for (let i = 0; i < 30; i++) await store.recordEvent({ event: "run_started", n: i });
    const events = await store.lastRuns(20);
    assert.deepEqual(events.map((e) => e.n), Array.from({ length: 20 }, (_, i) => i + 10));
    assert.equal((await store.lastRuns(100)).length, 30);
    assert.deepEqual(await store.lastRuns(0), []);
  }, { clock: new ManualClock(start) });
});

Deno.test({
  name: "lastRuns() and indexBy() return empty results without a file",
  ignore: jsonlOnly(FILE),
}, async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "missing.jsonl");
    assert.deepEqual(await lastRuns(20, { path }), []);
    assert.deepEqual(await indexBy("schedule_id", 100, { path }), {});
  });
});

Deno.test("indexBy() groups the newest events having the key in file order", async () => {
  await withTestStore(async ({ state: store }) => {
    await store.recordEvent({ event: "schedule_enqueued", schedule_id: "a", n: 1 });
    await store.recordEvent({ event: "run_started", n: 2 });
    await store.recordEvent({ event: "schedule_enqueued", schedule_id: "b", n: 3 });
    await store.recordEvent({ event: "schedule_enqueued", schedule_id: "a", n: 4 });
    await store.recordEvent({ event: "run_finished", n: 5 });
    const all = await store.indexBy("schedule_id", 100);
    assert.deepEqual(Object.keys(all).sort(), ["a", "b"]);
    assert.deepEqual(all.a.map((e) => e.n), [1, 4]);
    assert.deepEqual(all.b.map((e) => e.n), [3]);
    const two = await store.indexBy("schedule_id", 2);
    assert.deepEqual(two.a.map((e) => e.n), [4]);
    assert.deepEqual(two.b.map((e) => e.n), [3]);
  }, { clock: new ManualClock(start) });
});

Deno.test({
  name: "lastRuns() skips torn and corrupt lines and warns once per line",
  ignore: jsonlOnly(FILE),
}, async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "state.jsonl");
    const good = (n: number) => JSON.stringify({ v: 1, timestamp: "t", event: "e", n });
    await Deno.writeTextFile(
      path,
      [good(1), "{not json", good(2), "[1,2]", good(3), '{"event": "run_sta'].join("\n"),
    );
    const { warnings, onWarning } = collector();
    const store = new StateStore(path, { onWarning });
    assert.deepEqual((await store.lastRuns()).map((e) => e.n), [1, 2, 3]);
    assert.equal(warnings.length, 3);
    assert.match(warnings[0].message, /^Skipping corrupt line at byte \d+ of ".*": no newline/);
    assert.equal(warnings[2].offset, good(1).length + 1);
    await store.lastRuns();
    await new StateStore(path, { onWarning }).indexBy("n");
    assert.equal(warnings.length, 3);
  });
});

Deno.test({
  name: "recordEvent() completes a partial last line before appending",
  ignore: jsonlOnly(FILE),
}, async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "state.jsonl");
    await Deno.writeTextFile(path, '{"v":1,"event":"a"}\n{"event":"torn');
    const { warnings, onWarning } = collector();
    const store = new StateStore(path, { clock: new ManualClock(start), onWarning });
    await store.recordEvent({ event: "b" });
    const lines = (await Deno.readTextFile(path)).split("\n");
    assert.deepEqual(lines.slice(1), ['{"event":"torn', lines[2], ""]);
    assert.equal(JSON.parse(lines[2]).event, "b");
    assert.deepEqual((await store.lastRuns()).map((e) => e.event), ["a", "b"]);
    assert.equal(warnings.length, 1);
  });
});

Deno.test({
  name: "lastRuns() reads backwards across chunk boundaries with lines larger than a chunk",
  ignore: jsonlOnly(FILE),
}, async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "state.jsonl");
    const store = new StateStore(path, { clock: new ManualClock(start), chunkSize: 7 });
    const sizes = [0, 1, 5, 6, 7, 8, 50, 3];
    for (const [i, size] of sizes.entries()) {
      await store.recordEvent({ event: "e", i, pad: "é".repeat(size) });
    }
    const events = await store.lastRuns(100);
    assert.deepEqual(events.map((e) => e.i), sizes.map((_, i) => i));
    assert.deepEqual(events.map((e) => (e.pad as string).length), sizes);
    assert.deepEqual((await store.lastRuns(2)).map((e) => e.i), [6, 7]);
  });
});

Deno.test(
  { name: "lastRuns() on a large file reads only the tail", ignore: jsonlOnly(FILE) },
  async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "state.jsonl");
      const line = JSON.stringify({ v: 1, timestamp: start.toISOString(), event: "run_finished" }) +
        "\n";
      const block = new TextEncoder().encode(line.repeat(Math.floor((1 << 20) / line.length)));
      const file = await Deno.open(path, { write: true, create: true });
      for (let i = 0; i < 256; i++) await file.write(block);
      file.close();
      const store = new StateStore(path);
      assert.ok((await Deno.stat(path)).size > 250 * (1 << 20));
      const events = await store.lastRuns(20);
      assert.equal(events.length, 20);
      assert.ok(store.bytesRead <= 64 * 1024, `read ${store.bytesRead} bytes`);
    });
  },
);

Deno.test("StateStore.transaction() writes nothing when the callback throws", async () => {
  await withTestStore(async ({ state: store }) => {
    await assert.rejects(
      store.transaction((tx) => {
        tx.append({ event: "a" });
        tx.setWatermarks(new Map([["s", start]]));
        return Promise.reject(new Error("boom"));
      }),
      /boom/,
    );
    assert.deepEqual(await store.lastRuns(), []);
    assert.deepEqual(await store.readWatermarks(), new Map());
  }, { clock: new ManualClock(start) });
});

Deno.test("StateStore.transaction() reads schedule-minutes of a window and keeps watermarks", async () => {
  const clock = new ManualClock(start);
  await withTestStore(async ({ state: store }) => {
    const minute = (m: number) => new Date(start.getTime() + m * 60_000).toISOString();
    for (let m = 0; m < 60; m++) {
      clock.set(new Date(minute(m)));
      await store.recordEvent({
        event: "schedule_enqueued",
        schedule_id: "s",
        minute_utc: minute(m),
      });
      await store.recordEvent({ event: "run_started", run_id: `r${m}` });
    }
    const bytes = () => store instanceof StateStore ? store.bytesRead : 0;
    const before = bytes();
    const found = await store.transaction(async (tx) => {
      tx.setWatermarks(new Map([["s", new Date(minute(59))]]));
      return await tx.scheduleMinutes(new Date(minute(55)));
    });
    assert.deepEqual(found.map((e) => e.minute_utc), [55, 56, 57, 58, 59].map(minute));
    assert.ok(bytes() - before < 64 * 1024);
    await store.transaction((tx) => {
      tx.setWatermarks(new Map([["s", new Date(minute(10))], ["t", new Date(minute(1))]]));
      return Promise.resolve();
    });
    const marks = await store.readWatermarks();
    assert.equal(marks.get("s")?.toISOString(), minute(59));
    assert.equal(marks.get("t")?.toISOString(), minute(1));
  }, { clock });
});

Deno.test({
  name: "recordEvent() from two processes appends every line whole",
  ignore: jsonlOnly(FILE),
}, async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "state.jsonl");
    const child = new URL("./_append_child.ts", import.meta.url).pathname;
    const spawn = (writer: string) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", child, path, writer, "2000"],
        stdout: "inherit",
        stderr: "inherit",
      }).output();
    const results = await Promise.all([spawn("a"), spawn("b")]);
    assert.deepEqual(results.map((r) => r.code), [0, 0]);
    const lines = (await Deno.readTextFile(path)).split("\n");
    assert.equal(lines.pop(), "");
    assert.equal(lines.length, 4000);
    const seen = { a: 0, b: 0 } as Record<string, number>;
    for (const line of lines) {
      const e = JSON.parse(line);
      assert.equal(e.seq, seen[e.writer]++);
    }
  });
});

Deno.test({
  name: "recordEvent() from concurrent callers writes each line whole, once, in call order",
  ignore: jsonlOnly(FILE),
}, async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "logs", "state.jsonl");
    const store = new StateStore(path);
    const calls = Array.from({ length: 1000 }, (_, n) => store.recordEvent({ event: "e", n }));
    // A transaction asked for meanwhile waits for the appends' lock, then sees them all.
    const seen = store.transaction(async (tx) => (await tx.lastRuns(2000)).length);
    const written = await Promise.all(calls);
    assert.deepEqual(written.map((e) => e.n), Array.from({ length: 1000 }, (_, n) => n));
    assert.equal(await seen, 1000);
    for (let n = 1000; n < 1500; n++) await store.recordEvent({ event: "e", n });
    const lines = (await Deno.readTextFile(path)).split("\n");
    assert.equal(lines.pop(), "");
    assert.deepEqual(lines.map((l) => JSON.parse(l).n), Array.from({ length: 1500 }, (_, n) => n));
  });
});

Deno.test({
  name: "recordEvent() appends to the file at its path when it was deleted between appends",
  ignore: jsonlOnly(FILE),
}, async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "state.jsonl");
    const store = new StateStore(path);
    await store.recordEvent({ event: "a" });
    await new Promise((r) => setTimeout(r, 0)); // other I/O: the appends' lock is let go
    await Deno.remove(path);
    await store.recordEvent({ event: "b" });
    const lines = (await Deno.readTextFile(path)).trim().split("\n");
    assert.deepEqual(lines.map((l) => JSON.parse(l).event), ["b"]);
  });
});

Deno.test({
  name: "recordEvent() in a long loop lets another process's transaction in",
  ignore: jsonlOnly(FILE),
}, async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "state.jsonl");
    const store = new StateStore(path);
    await store.recordEvent({ event: "first" });
    let stop = false;
    const loop = (async () => {
      let n = 0;
      while (!stop) await store.recordEvent({ event: "loop", n: n++ });
      return n;
    })();
    // Another process takes the lock while this one appends in a tight loop.
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const f = await Deno.open(${JSON.stringify(path)}, { append: true });
        await f.lock(true); await f.write(new TextEncoder().encode('{"event":"other"}\\n'));`,
      ],
    }).output();
    const out = await child;
    stop = true;
    const n = await loop;
    assert.equal(out.code, 0);
    const events = (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(events.length, n + 2);
    assert.equal(events.filter((e) => e.event === "other").length, 1);
  });
});
