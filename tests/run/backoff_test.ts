import assert from "node:assert/strict";
import { nextDelay } from "../../mod.ts";

Deno.test("nextDelay() doubles from retry_delay_s with no jitter at the midpoint", () => {
  const mid = () => 0.5;
  assert.deepEqual([1, 2, 3, 4].map((a) => nextDelay(a, { baseS: 2, random: mid })), [2, 4, 8, 16]);
});

Deno.test("nextDelay() keeps jitter within ±25%", () => {
  assert.equal(nextDelay(1, { baseS: 4, random: () => 0 }), 3);
  assert.equal(nextDelay(1, { baseS: 4, random: () => 0.999999 }) < 5, true);
  assert.equal(nextDelay(1, { baseS: 4, random: () => 0.999999 }) > 4.99, true);
});

Deno.test("nextDelay() caps at 300 s by default and at capS when given", () => {
  assert.equal(nextDelay(20, { baseS: 1, random: () => 0.5 }), 300);
  assert.equal(nextDelay(5, { baseS: 1, capS: 10, random: () => 0.5 }), 10);
});

Deno.test("nextDelay() throws RangeError for attempt 0", () => {
  assert.throws(() => nextDelay(0, { baseS: 1 }), RangeError);
});
