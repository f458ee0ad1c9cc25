import assert from "node:assert/strict";
import { MemoryWatchdog } from "../../src/pool/memory_watchdog.ts";

const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

Deno.test("MemoryWatchdog calls onOver past the limit until it says stop", () => {
  let rss = 100;
  const seen: number[] = [];
  const w = new MemoryWatchdog({
    limitMb: 200,
    rssBytes: () => rss * 2 ** 20,
    onOver: (mb) => seen.push(mb) >= 2,
  });
  assert.equal(w.check(), false);
  rss = 300;
  assert.equal(w.check(), true);
  assert.equal(w.check(), true);
  assert.deepEqual(seen, [300, 300]);
  assert.throws(() => new MemoryWatchdog({ limitMb: 0, onOver: () => true }), RangeError);
});

Deno.test("MemoryWatchdog stops sampling when nothing is active, and restarts on start()", async () => {
  let samples = 0;
  let active = true;
  const w = new MemoryWatchdog({
    limitMb: 200,
    intervalMs: 2,
    rssBytes: () => (samples++, 0),
    active: () => active,
    onOver: () => true,
  });
  w.start();
  w.start();
  await wait(30);
  assert.ok(samples > 0);
  active = false;
  await wait(10);
  const after = samples;
  await wait(30);
  assert.equal(samples, after, "stopped itself");
  active = true;
  w.start();
  await wait(30);
  assert.ok(samples > after, "sampling again");
  w.stop();
});
