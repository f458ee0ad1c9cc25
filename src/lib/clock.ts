/** Source of the current time. Injected wherever logic depends on time. */
export interface Clock {
  /** @returns The current instant. */
  now(): Date;
}

/** The real wall clock. */
export const systemClock: Clock = Object.freeze({
  now(): Date {
    return new Date();
  },
});

/**
 * A clock that only moves when told to. For tests.
 * @example
 * ```ts
 * import { ManualClock } from "./clock.ts";
 * const clock = new ManualClock(new Date("2026-01-01T00:00:00Z"));
 * clock.advance(60_000);
 * ```
 */
export class ManualClock implements Clock {
  #ms: number;
  /** @param start The initial instant. */
  constructor(start: Date) {
    this.#ms = start.getTime();
  }
  /** @returns The current (manual) instant. */
  now(): Date {
    return new Date(this.#ms);
  }
  /** @param ms Milliseconds to move forward. */
  advance(ms: number): void {
    this.#ms += ms;
  }
  /** @param at The instant to jump to. */
  set(at: Date): void {
    this.#ms = at.getTime();
  }
}
