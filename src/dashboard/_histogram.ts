/** A cumulative Prometheus-style histogram with fixed upper bounds. */
export class Histogram {
  readonly bounds: readonly number[];
  /** Non-cumulative count per bound; the last slot is +Inf. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  /** @param bounds Ascending upper bounds (seconds). */
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Array(bounds.length + 1).fill(0);
  }

  /** @param value One observation. */
  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/** Buckets for task durations, in seconds. */
export const DURATION_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600] as const;
/** Buckets for scheduler lag, in seconds. */
export const LAG_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 300] as const;
