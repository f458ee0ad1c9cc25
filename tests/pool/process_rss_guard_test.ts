import assert from "node:assert/strict";
import { processRssMb, watchProcessRss } from "../../src/pool/process_rss_guard.ts";

Deno.test({
  name: "processRssMb() reads a live process's RSS; watchProcessRss() fires once past the limit",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const own = processRssMb(Deno.pid)!;
    assert.ok(own > 10 && own < 4096, `RSS ${own} MB`);
    assert.equal(processRssMb(2 ** 22 + 12345), undefined, "no such process");
    const seen: number[] = [];
    const stop = watchProcessRss(Deno.pid, 1, (mb) => seen.push(mb));
    for (let i = 0; i < 100 && seen.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 120));
    stop();
    assert.equal(seen.length, 1);
    assert.ok(seen[0] > 1);
  },
});
