/** Longest wait between attempts, in seconds, unless configured otherwise. */
export const DEFAULT_MAX_DELAY_S = 300;

/**
 * Delay before the next attempt: `baseS * 2^(attempt-1)`, with jitter of at most ±25%,
 * capped. Pure.
 * @param attempt The attempt that just failed, from 1.
 * @param options `baseS` (the task's retry_delay_s), `capS` (default 300), `random` in [0, 1).
 * @returns Seconds to wait.
 * @throws {RangeError} When attempt is not a whole number >= 1.
 */
export function nextDelay(
  attempt: number,
  options: { baseS: number; capS?: number; random?: () => number },
): number {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`Attempt must be a whole number >= 1: got ${attempt}`);
  }
  const cap = options.capS ?? DEFAULT_MAX_DELAY_S;
  const jitter = 1 + ((options.random ?? Math.random)() * 0.5 - 0.25);
  const raw = options.baseS * 2 ** (attempt - 1) * jitter;
  return Math.min(cap, Math.max(0, raw));
}
