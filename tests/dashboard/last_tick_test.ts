import assert from "node:assert/strict";
import { createDashboard } from "../../src/dashboard/mod.ts";
import { watermarksPath } from "../../src/store/mod.ts";

Deno.test("/metrics reports the scheduler's last tick from its watermarks file", async () => {
  const dir = await Deno.makeTempDir();
  const paths = { eventsPath: `${dir}/e.jsonl`, statePath: `${dir}/s.jsonl` };
  const app = createDashboard({ paths });
  try {
    const before = await (await app.fetch(new Request("http://127.0.0.1/metrics"))).text();
    assert.doesNotMatch(before, /^orch_scheduler_last_tick_timestamp_seconds /m);
    await Deno.writeTextFile(watermarksPath(paths.statePath), '{"v":1,"watermarks":{}}');
    const at = new Date("2026-11-26T10:00:00Z");
    await Deno.utime(watermarksPath(paths.statePath), at, at);
    const after = await (await app.fetch(new Request("http://127.0.0.1/metrics"))).text();
    assert.match(after, /^orch_scheduler_last_tick_timestamp_seconds 1795687200$/m);
  } finally {
    await app.close();
    await Deno.remove(dir, { recursive: true });
  }
});
