import assert from "node:assert/strict";
import { EventLog } from "../../src/store/event_log.ts";

Deno.test("EventLog writes every appended object as one whole line", async (t) => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/sub/events.jsonl`;
  try {
    await t.step("lines of one turn land together, in order, after flush()", async () => {
      const log = new EventLog(path);
      for (let i = 0; i < 1000; i++) log.append({ i, text: "x".repeat(i % 50) });
      await log.flush();
      const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
      assert.deepEqual(lines.map((l) => JSON.parse(l).i), [...Array(1000).keys()]);
      await log.close();
    });

    await t.step("two logs on one file never interleave inside a line", async () => {
      const a = new EventLog(path);
      const b = new EventLog(path);
      await a.open();
      const big = "y".repeat(200_000);
      for (let i = 0; i < 20; i++) {
        a.append({ w: "a", i, big });
        b.append({ w: "b", i, big });
        await Promise.resolve();
      }
      await Promise.all([a.close(), b.close()]);
      const lines = (await Deno.readTextFile(path)).trimEnd().split("\n").slice(1000);
      assert.equal(lines.length, 40);
      for (const l of lines) assert.equal(JSON.parse(l).big, big);
    });

    await t.step("non-ASCII text and batches of every size are written exactly", async () => {
      const file = `${dir}/utf8.jsonl`;
      const log = new EventLog(file);
      const want: string[] = [];
      // Small and large batches, ASCII-only and not, in one log (the encoding buffer is
      // reused between batches and shared between logs).
      for (const [n, text] of [[3, "abc"], [2000, "é漢🎉"], [10, "plain"], [5000, "x"]] as const) {
        for (let i = 0; i < n; i++) {
          const line = JSON.stringify({ i, text: text.repeat(1 + (i % 40)) });
          want.push(line);
          log.appendLine(line);
        }
        await log.flush();
      }
      await log.close();
      assert.deepEqual((await Deno.readTextFile(file)).split("\n"), [...want, ""]);
    });

    await t.step("an unwritable path fails on open()", async () => {
      const file = `${dir}/plain`;
      await Deno.writeTextFile(file, "");
      await assert.rejects(() => new EventLog(`${file}/x.jsonl`).open(), /Cannot write log/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EventLog completes a cut-off last line before appending", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/e.jsonl`;
    await Deno.writeTextFile(path, '{"event":"a"}\n{"event":"b","cut');
    const log = new EventLog(path);
    log.append({ event: "c" });
    await log.close();
    const lines = (await Deno.readTextFile(path)).split("\n");
    assert.deepEqual(lines, ['{"event":"a"}', '{"event":"b","cut', '{"event":"c"}', ""]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
