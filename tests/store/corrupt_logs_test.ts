/**
 * Reader robustness: state files with junk, torn, interleaved, NUL-filled, non-UTF-8,
 * enormous and empty lines. Every reader skips what it cannot use, reports each bad
 * line once through `onWarning`, and never throws.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { StateStore, type StoreWarning } from "../../src/store/mod.ts";

const enc = new TextEncoder();
const line = (n: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    timestamp: `2026-05-01T10:0${n}:00.000Z`,
    v: 1,
    event: "schedule_enqueued",
    schedule_id: "s",
    minute_utc: `2026-05-01T10:0${n}:00.000Z`,
    n,
    ...extra,
  }) + "\n";

const bytes = (...parts: (string | number[])[]) =>
  parts.flatMap((p) => typeof p === "string" ? [...enc.encode(p)] : p);

/** Each case: file content, the `n` of the events readers must return, bad lines expected. */
const CASES: [string, number[], number[], number][] = [
  ["empty file", [], [], 0],
  ["only a partial line", bytes('{"timestamp":"2026-05-01T10:0'), [], 1],
  [
    "junk between good lines",
    bytes(line(1), "garbage ]]]\n", line(2), "\n\n", line(3)),
    [1, 2, 3],
    1,
  ],
  ["a torn last line", bytes(line(1), line(2), line(3).slice(0, 20)), [1, 2], 1],
  [
    "interleaved halves of two lines",
    bytes(line(1), line(2).slice(0, 30), line(3), line(2).slice(30), line(4)),
    [1, 4], // line 3 was written into the middle of line 2: both are lost
    2,
  ],
  [
    "NUL bytes (a preallocated tail)",
    bytes(line(1), [0, 0, 0, 0, 10], line(2), [0, 0, 0]),
    [1, 2],
    2,
  ],
  ["invalid UTF-8 outside strings", bytes(line(1), [0xff, 0xfe, 0x7b, 10], line(2)), [1, 2], 1],
  [
    "invalid UTF-8 inside a string",
    bytes(line(1), '{"event":"run_started","timestamp":"', [0xc3, 0x28], '"}\n', line(2)),
    [1, 2],
    1,
  ],
  [
    "JSON that is not an event",
    bytes(line(1), "[1,2]\n", "null\n", '{"no_event":1}\n', '"event"\n', "1e999\n", line(2)),
    [1, 2],
    5,
  ],
  [
    "fields of the wrong type",
    bytes(
      line(1),
      line(5, { schedule_id: { toString: 1 }, timestamp: { toString: 1 } }),
      line(6, { run_id: { toString: 1 }, minute_utc: [] }),
      line(2),
    ),
    [1, 5, 6, 2],
    0,
  ],
  ["an enormous single line", bytes(line(1), "x".repeat(3_000_000) + "\n", line(2)), [1, 2], 1],
  ["an enormous torn last line", bytes(line(1), '{"a":"' + "y".repeat(3_000_000)), [1], 1],
];

async function withState(
  content: number[],
  fn: (store: StateStore, warnings: StoreWarning[]) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "orch_corrupt_" });
  try {
    const path = join(dir, "state.jsonl");
    await Deno.writeFile(path, new Uint8Array(content));
    const warnings: StoreWarning[] = [];
    // A small chunk makes lines span reads; each case gets a fresh path (warnings are per path).
    const store = new StateStore(path, { chunkSize: 1024, onWarning: (w) => warnings.push(w) });
    await fn(store, warnings);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("StateStore readers skip and report corrupt lines, never throw", async (t) => {
  for (const [name, content, want, bad] of CASES) {
    await t.step(name, async () => {
      await withState(content, async (store, warnings) => {
        assert.deepEqual((await store.lastRuns(100)).map((e) => e.n), want);
        assert.equal(warnings.length, bad, warnings.map((w) => w.message).join("\n"));
        for (const w of warnings) {
          assert.match(w.message, /^Skipping corrupt line at byte \d+ of ".*state\.jsonl": \S/);
          assert.ok(!w.message.includes("\n") && w.message.length < 500, "one short line");
        }
        // Other readers see the same events and do not report the same lines again.
        const groups = await store.indexBy("run_id");
        assert.ok(Object.values(groups).every((g) => Array.isArray(g)));
        await store.indexBy("schedule_id");
        await store.transaction(async (tx) => {
          await tx.scheduleMinutes(new Date("2026-05-01T00:00:00Z"));
          assert.equal((await tx.lastRuns(100)).length, want.length);
        });
        assert.equal(warnings.length, bad, "each bad line is reported once");
      });
    });
  }
});

Deno.test("StateStore appends after a corrupt tail and the new line reads back", async () => {
  for (const [, content] of CASES) {
    await withState(content, async (store) => {
      await store.recordEvent({ event: "run_finished", n: 99 });
      assert.equal((await store.lastRuns(1))[0].n, 99);
    });
  }
});

Deno.test("StateStore.readWatermarks() reads a corrupt sidecar as empty with one warning", async () => {
  const sidecars = [
    "",
    "\0\0\0",
    '{"v":1,"watermarks":{"a":"2026-05-01T10:00:00.000Z"',
    '{"v":1,"watermarks":{"a":{"toString":1}}}',
    "[]",
    "null",
  ];
  for (const text of sidecars) {
    await withState([], async (store, warnings) => {
      await Deno.writeTextFile(`${store.path}.watermarks.json`, text);
      const marks = await store.readWatermarks();
      assert.ok(marks instanceof Map);
      assert.ok(warnings.length <= 1, JSON.stringify(text));
    });
  }
});
