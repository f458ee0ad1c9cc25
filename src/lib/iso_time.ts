/** Epoch ms of 9999-12-31T23:59:59.999Z: beyond it ISO strings get 6-digit years. */
const MAX_FOUR_DIGIT_YEAR_MS = 253_402_300_799_999;

let cachedSecond = NaN;
let cachedPrefix = "";

/**
 * Formats an instant as ISO 8601 UTC with milliseconds, exactly as
 * `new Date(ms).toISOString()` does, but reuses the text up to the seconds while
 * consecutive calls fall in the same second (the event log stamps thousands of events
 * a second).
 * @param ms Epoch milliseconds; fractions are truncated as `Date` does.
 * @returns e.g. `2026-01-02T03:04:05.678Z`.
 * @throws {RangeError} When `ms` is not a valid time value.
 */
export function isoTimestamp(ms: number): string {
  if (!(ms >= 0 && ms <= MAX_FOUR_DIGIT_YEAR_MS)) return new Date(ms).toISOString();
  const t = Math.trunc(ms);
  const second = (t - t % 1000) / 1000;
  if (second !== cachedSecond) {
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 20);
    cachedSecond = second;
  }
  const m = t % 1000;
  return cachedPrefix + (m < 10 ? "00" : m < 100 ? "0" : "") + m + "Z";
}
