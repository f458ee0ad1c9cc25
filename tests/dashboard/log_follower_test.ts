import assert from "node:assert/strict";
import { join } from "node:path";
import { LogFollower } from "../../src/dashboard/mod.ts";

function collector() {
  const lines: { value: Record<string, unknown>; offset: number; length: number }[] = [];
  let resets = 0;
  return {
    lines,
    get resets() {
      return resets;
    },
    sink: {
      line(value: Record<string, unknown>, offset: number, length: number) {
        lines.push({ value, offset, length });
      },
      reset() {
        resets++;
        lines.length = 0;
      },
    },
  };
}

async function withFile(fn: (path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "orch_follow_" });
  try {
    await fn(join(dir, "log.jsonl"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const append = (path: string, text: string) => Deno.writeTextFile(path, text, { append: true });

Deno.test("LogFollower.poll() reads only what was appended since the last poll", async () => {
  await withFile(async (path) => {
    const c = collector();
    const f = new LogFollower(path, c.sink);
    await f.poll(); // missing file: nothing, no error
    assert.equal(c.lines.length, 0);
    await append(path, '{"event":"a","n":1}\n{"event":"b","n":2}\n');
    await f.poll();
    assert.deepEqual(c.lines.map((l) => l.value.n), [1, 2]);
    assert.deepEqual(c.lines.map((l) => [l.offset, l.length]), [[0, 19], [20, 19]]);
    await f.poll();
    assert.equal(c.lines.length, 2);
    await append(path, '{"event":"c","n":3}\n');
    await f.poll();
    assert.deepEqual(c.lines.map((l) => l.value.n), [1, 2, 3]);
    assert.equal(f.stats.offset, 60);
  });
});

Deno.test("LogFollower.poll() holds a partial trailing line until it is completed", async () => {
  await withFile(async (path) => {
    const c = collector();
    const f = new LogFollower(path, c.sink);
    await append(path, '{"event":"a"}\n{"event":"b","msg":"hal');
    await f.poll();
    assert.equal(c.lines.length, 1);
    assert.equal(f.stats.pendingBytes, 23);
    assert.equal(f.stats.corrupt, 0);
    await append(path, 'f"}\n');
    await f.poll();
    assert.deepEqual(c.lines.map((l) => l.value.event), ["a", "b"]);
    assert.equal(c.lines[1].value.msg, "half");
    assert.deepEqual([c.lines[1].offset, c.lines[1].length], [14, 26]);
    assert.equal(f.stats.pendingBytes, 0);
  });
});

Deno.test("LogFollower.poll() skips and counts corrupt lines", async () => {
  await withFile(async (path) => {
    const c = collector();
    const f = new LogFollower(path, c.sink);
    await append(
      path,
      '{"event":"a"}\n{"event":"torn\nnot json\n[1,2]\n{"no_event":1}\n\n{"event":"b"}\n',
    );
    await f.poll();
    assert.deepEqual(c.lines.map((l) => l.value.event), ["a", "b"]);
    assert.equal(f.stats.corrupt, 4);
    assert.equal(f.stats.lines, 2);
  });
});

Deno.test("LogFollower.poll() restarts when the file is truncated or replaced", async (t) => {
  await t.step("truncated", async () => {
    await withFile(async (path) => {
      const c = collector();
      const f = new LogFollower(path, c.sink);
      await append(path, '{"event":"a"}\n{"event":"b"}\n');
      await f.poll();
      await Deno.writeTextFile(path, '{"event":"c"}\n');
      await f.poll();
      assert.equal(c.resets, 1);
      assert.deepEqual(c.lines.map((l) => l.value.event), ["c"]);
    });
  });
  await t.step("copy-truncated and regrown past the old offset", async () => {
    await withFile(async (path) => {
      const c = collector();
      const f = new LogFollower(path, c.sink);
      await append(path, '{"event":"a"}\n');
      await f.poll();
      await Deno.writeTextFile(path, '{"event":"x","pad":"0123456789"}\n');
      await f.poll();
      assert.equal(c.resets, 1);
      assert.deepEqual(c.lines.map((l) => l.value.event), ["x"]);
    });
  });
  await t.step("rotated: renamed away and a new file created", async () => {
    await withFile(async (path) => {
      const c = collector();
      const f = new LogFollower(path, c.sink);
      await append(path, '{"event":"a"}\n{"event":"b"}\n');
      await f.poll();
      await Deno.rename(path, path + ".1");
      await f.poll(); // missing: keeps what it has
      assert.equal(c.lines.length, 2);
      await append(path, '{"event":"new1"}\n{"event":"new2"}\n{"event":"new3"}\n');
      await f.poll();
      assert.equal(c.resets, 1);
      assert.deepEqual(c.lines.map((l) => l.value.event), ["new1", "new2", "new3"]);
    });
  });
});

Deno.test("LogFollower.poll() keeps multi-byte characters split across reads intact", async () => {
  await withFile(async (path) => {
    const c = collector();
    const f = new LogFollower(path, c.sink, { chunkSize: 3 });
    const lines = ['{"event":"é","m":"日本語 ✓"}', '{"event":"b","m":"🙂🙂"}'];
    await append(path, lines.join("\n") + "\n");
    await f.poll();
    assert.deepEqual(c.lines.map((l) => l.value.m), ["日本語 ✓", "🙂🙂"]);
    const bytes = new TextEncoder().encode(lines[0]).length;
    assert.deepEqual([c.lines[1].offset, c.lines[0].length], [bytes + 1, bytes]);
  });
});

Deno.test("LogFollower.poll() serialises concurrent calls", async () => {
  await withFile(async (path) => {
    const c = collector();
    const f = new LogFollower(path, c.sink);
    await append(path, '{"event":"a"}\n'.repeat(1000));
    await Promise.all([f.poll(), f.poll(), f.poll()]);
    assert.equal(c.lines.length, 1000);
  });
});
