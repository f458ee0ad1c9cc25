import assert from "node:assert/strict";
import { readLogLines } from "../../src/store/postgres/_import_lines.ts";

Deno.test("readLogLines() yields events across chunk boundaries and counts bad lines", async () => {
  const dir = await Deno.makeTempDir({ prefix: "orch_import_" });
  try {
    const path = `${dir}/log.jsonl`;
    const good = Array.from({ length: 50 }, (_, i) => ({ event: "task_ok", i, s: "é✓" }));
    const enc = (t: string) => new TextEncoder().encode(t);
    const head = good.slice(0, 25).map((g) => JSON.stringify(g)).join("\n");
    const tail = good.slice(25).map((g) => JSON.stringify(g)).join("\n");
    await Deno.writeFile(
      path,
      new Uint8Array([
        ...enc(`${head}\nnot json\n[1,2]\n{"no_event":1}\n\n`),
        ...[0x7b, 0xff, 0xfe, 0x7d, 0x0a], // invalid UTF-8
        ...enc(`${tail}\n{"event":"to`), // torn last line
      ]),
    );
    for (const chunk of [3, 7, 64, 1 << 20]) {
      const skipped = { count: 0 };
      const got = [];
      for await (const line of readLogLines(path, skipped, chunk)) got.push(line);
      assert.deepEqual(got.map((g) => g.i), good.map((g) => g.i), `chunk ${chunk}`);
      assert.equal(got[1].s, "é✓");
      assert.equal(skipped.count, 5, `chunk ${chunk}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
