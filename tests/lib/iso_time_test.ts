import assert from "node:assert/strict";
import { isoTimestamp } from "../../src/lib/iso_time.ts";

Deno.test("isoTimestamp() matches Date.prototype.toISOString", () => {
  const cases = [
    0,
    1,
    999.9,
    1000,
    1_767_225_600_000,
    1_767_225_600_999,
    1_767_225_601_000.5,
    1_767_225_599_999,
    253_402_300_799_999,
    -1,
    1e15,
  ];
  for (const ms of cases) assert.equal(isoTimestamp(ms), new Date(ms).toISOString(), String(ms));
  assert.throws(() => isoTimestamp(NaN), RangeError);
});
