import assert from "node:assert/strict";
import { getHeapStatistics } from "node:v8";
import { ConfigError, loadConfig } from "../../src/config/config.ts";

Deno.test("loadConfig() reads ORCH_MEMORY_LIMIT_MB and ORCH_QUARANTINE_MEMORY_MB", async (t) => {
  await t.step("defaults: 2/3 of the V8 heap limit, 512", () => {
    const c = loadConfig({}, { cwd: "/tmp" });
    const heapMb = getHeapStatistics().heap_size_limit / 2 ** 20;
    assert.equal(c.memoryLimitMb, Math.floor(heapMb * 2 / 3));
    assert.equal(c.quarantineMemoryMb, 512);
  });
  await t.step("0 turns the watchdog off; values are kept", () => {
    assert.equal(loadConfig({ ORCH_MEMORY_LIMIT_MB: "0" }, { cwd: "/tmp" }).memoryLimitMb, 0);
    const c = loadConfig({ ORCH_MEMORY_LIMIT_MB: "400", ORCH_QUARANTINE_MEMORY_MB: "32" }, {
      cwd: "/tmp",
    });
    assert.equal(c.memoryLimitMb, 400);
    assert.equal(c.quarantineMemoryMb, 32);
  });
  await t.step("a limit below orch's own footprint, or junk, is a ConfigError", () => {
    for (const v of ["100", "-1", "1.5", "lots"]) {
      assert.throws(
        () => loadConfig({ ORCH_MEMORY_LIMIT_MB: v }, { cwd: "/tmp" }),
        (e: unknown) =>
          e instanceof ConfigError && /expected 0 \(off\) or a whole number >= 256/.test(e.message),
      );
    }
  });
});
