import type { JobRequest } from "./protocol.ts";

/** Ended links whose outcome is kept for a continuation that arrives late. */
const RECENT = 16;

/**
 * The worker side of chain continuations: jobs sent with `after` wait here until the
 * job they follow ends, then run at once (in the same worker, with that job's output
 * as their only upstream) or are dropped unstarted when it failed. Pure bookkeeping:
 * the runner decides when to run and what to report.
 *
 * Invariant: a continuation starts only after the job it follows succeeded in this
 * worker, and never after it or one of its predecessors was aborted, failed or dropped.
 */
export class Continuations {
  /** Waiting continuations by the id of the job they follow. */
  readonly #next = new Map<number, JobRequest>();
  /** Link jobs (heads and continuations) that have not ended: queued, running or waiting. */
  readonly #live = new Set<number>();
  /** The last ended links: task id and output JSON (succeeded), or null (failed, dropped). */
  readonly #recent = new Map<number, readonly [taskId: string, outputJson: string] | null>();
  /** A continuation taken to run, until it starts (an abort may still drop it). */
  #starting: { id: number; aborted: boolean } | undefined;

  /**
   * A job of a `jobs` message that is a link or a continuation arrived.
   * @param job The job (`link` or `after` set).
   * @returns "run" to queue it now, "wait" when it waits for its predecessor, or
   *   "drop" when its predecessor already failed or is unknown.
   */
  admit(job: JobRequest): "run" | "wait" | "drop" {
    const after = job.after;
    if (after === undefined) {
      this.#live.add(job.id);
      return "run";
    }
    if (this.#live.has(after)) {
      this.#next.set(after, job);
      this.#live.add(job.id);
      return "wait";
    }
    const ended = this.#recent.get(after);
    if (ended) {
      // It arrived after its predecessor ended well: it runs now.
      this.#recent.delete(after);
      this.#live.add(job.id);
      job.upstream = [[ended[0], JSON.parse(ended[1])]];
      return "run";
    }
    this.#remember(job.id, null);
    return "drop";
  }

  /**
   * A link succeeded.
   * @param job The link.
   * @param outputJson Its output as reported.
   * @returns The continuation to run next, with its upstream set, if one waits.
   */
  succeeded(job: JobRequest, outputJson: string): JobRequest | undefined {
    if (!this.#live.delete(job.id)) return undefined;
    const c = this.#next.get(job.id);
    if (!c) {
      this.#remember(job.id, [job.taskId, outputJson]);
      return undefined;
    }
    this.#next.delete(job.id);
    c.upstream = [[job.taskId, JSON.parse(outputJson)]];
    this.#starting = { id: c.id, aborted: false };
    return c;
  }

  /**
   * A job failed (or was found aborted before its start): its waiting continuations are
   * dropped.
   * @param id The job's id.
   * @returns Ids of the continuations dropped, in chain order.
   */
  failed(id: number): number[] {
    if (!this.#live.delete(id)) return [];
    this.#remember(id, null);
    return this.#dropAfter(id);
  }

  /**
   * An abort for `id` arrived: a waiting continuation (and those after it) is dropped.
   * @returns Ids dropped; empty when `id` is not waiting here (it may be running).
   */
  abort(id: number): number[] {
    if (this.#starting?.id === id) this.#starting.aborted = true;
    for (const [after, c] of this.#next) {
      if (c.id !== id) continue;
      this.#next.delete(after);
      this.#live.delete(id);
      this.#remember(id, null);
      return [id, ...this.#dropAfter(id)];
    }
    return [];
  }

  /**
   * The continuation taken to run is about to start.
   * @returns false when an abort for it arrived meanwhile (drop it with {@link failed}).
   */
  start(id: number): boolean {
    const s = this.#starting;
    this.#starting = undefined;
    return !(s?.id === id && s.aborted);
  }

  #dropAfter(id: number): number[] {
    const dropped: number[] = [];
    for (let c = this.#next.get(id); c; c = this.#next.get(id)) {
      this.#next.delete(id);
      this.#live.delete(c.id);
      this.#remember(c.id, null);
      dropped.push(c.id);
      id = c.id;
    }
    return dropped;
  }

  #remember(id: number, ended: readonly [string, string] | null): void {
    this.#recent.set(id, ended);
    if (this.#recent.size > RECENT) this.#recent.delete(this.#recent.keys().next().value!);
  }
}
