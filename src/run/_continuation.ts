import type { FollowHandler, Job, JobHandler, JobOutcome, TaskPool } from "../pool/task_pool.ts";
import type { Plan } from "../plan/build_plan.ts";

/**
 * Links of a chain sent ahead to the worker running it: a few at first, so the worker
 * starts at once, then doubled step by step up to MAX_WINDOW right away (each step its
 * own message, without waiting for the links' starts); from then on topped up when half
 * or fewer are left.
 */
const FIRST_WINDOW = 8;
const MAX_WINDOW = 256;

/** One chain in flight from one launched link: its last carried link and how many ride. */
interface Ride {
  tail: number;
  carried: number;
  /** How many links may ride ahead. */
  window: number;
}

/** What {@link Chains} needs from the execution it serves. */
export interface ChainHost {
  readonly attempts: Int32Array;
  /** The task waits for nothing and has not started, been skipped or decided. */
  isReady(i: number): boolean;
  /** The task has not started and was not skipped or decided. */
  isPending(i: number): boolean;
  /** The job of attempt `attempt` of task `i` (upstream filled in by the worker). */
  job(i: number, attempt: number): Job;
  /** A carried task started in its worker; false when the run has moved on without it. */
  carriedStarted(i: number, attempt: number, at: number): boolean;
  settle(i: number, attempt: number, outcome: JobOutcome): void;
  log(i: number, attempt: number, message: string, at: number): void;
  launch(i: number): void;
}

/**
 * Chain continuations on the executor's side. A task whose single dependant has it as its
 * only dependency is a chain link: when it is launched, the next links are sent
 * along as continuations (see FIRST_WINDOW), which its worker starts the moment their predecessor succeeds,
 * merging that output into their params itself; each link's start tops the window up. So
 * a chain runs without a round trip through the main thread per task. The decisions stay
 * here: a carried task becomes running only when its start is reported after its
 * predecessor's success was recorded (events keep their order: task_ok of a link, then
 * task_start of the next); a continuation dropped by the pool (predecessor failed, timed
 * out, cancelled) leaves its task pending, to be launched, retried or skipped as without
 * continuations.
 */
export class Chains {
  readonly #host: ChainHost;
  readonly #pool: TaskPool;
  readonly #plan: Plan;
  /** The continuation carrying each task not started yet. */
  readonly #carry: (Follow | undefined)[];
  /** The job in flight of each link (what continuations follow). */
  readonly #jobs: (Job | undefined)[];

  /**
   * @param host The execution.
   * @param plan Its plan.
   * @param pool A pool with `submitLink` and `follow`.
   */
  constructor(host: ChainHost, plan: Plan, pool: TaskPool) {
    this.#host = host;
    this.#plan = plan;
    this.#pool = pool;
    this.#carry = new Array(plan.ids.length);
    this.#jobs = new Array(plan.ids.length);
  }

  /** The chain link after task `i`: its single dependant when `i` is that one's only dependency, else -1. */
  next(i: number): number {
    const deps = this.#plan.dependants[i];
    if (deps.length !== 1) return -1;
    const c = deps[0];
    return this.#plan.dependsOn[c].length === 1 ? c : -1;
  }

  /** Whether task `i` rides as a continuation (then it is not launched on its own). */
  carried(i: number): boolean {
    return this.#carry[i] !== undefined;
  }

  /**
   * Submits a launched task that is a chain link, with the next links as continuations.
   * @returns false when `i` is not a link (submit it as usual).
   */
  submit(i: number, job: Job, handler: JobHandler): boolean {
    if (this.next(i) < 0) return false;
    this.#pool.submitLink!(job, handler);
    this.#jobs[i] = job;
    const ride = { tail: i, carried: 0, window: FIRST_WINDOW };
    this.#extend(ride);
    queueMicrotask(() => this.#grow(ride));
    return true;
  }

  /**
   * Doubles a new ride's window up to MAX_WINDOW, one microtask per step, without waiting
   * for its links' starts: each step goes out as its own message (the pool dispatches in
   * a microtask), so the worker starts on the first links while the next are built.
   */
  #grow(ride: Ride): void {
    if (ride.window >= MAX_WINDOW || ride.carried < ride.window) return;
    ride.window = Math.min(MAX_WINDOW, ride.window * 2);
    this.#extend(ride);
    queueMicrotask(() => this.#grow(ride));
  }

  /** Carries the links after the ride's tail until its window is full. */
  #extend(ride: Ride): void {
    const host = this.#host;
    while (ride.carried < ride.window) {
      const prev = ride.tail;
      const c = this.next(prev);
      if (c < 0 || this.#carry[c] !== undefined || !host.isPending(c)) return;
      const attempt = host.attempts[c] + 1;
      const job = host.job(c, attempt);
      const f = new Follow(this, ride, c, attempt);
      if (!this.#pool.follow!(this.#jobs[prev]!, job, f)) return;
      this.#carry[c] = f;
      this.#jobs[c] = job;
      ride.tail = c;
      ride.carried++;
    }
  }

  /** @internal */
  started(f: Follow, at: number): boolean {
    const i = f.i;
    if (this.#carry[i] !== f) return false;
    this.#carry[i] = undefined;
    if (!this.#host.carriedStarted(i, f.attempt, at)) return false;
    const ride = f.ride;
    if (--ride.carried <= ride.window >> 1) {
      ride.window = Math.min(MAX_WINDOW, ride.window * 2);
      this.#extend(ride);
    }
    return true;
  }

  /** @internal */
  dropped(f: Follow): void {
    const i = f.i;
    if (this.#carry[i] !== f) return;
    this.#carry[i] = undefined;
    if (this.#host.isReady(i)) this.#host.launch(i);
  }

  /** @internal */
  get host(): ChainHost {
    return this.#host;
  }
}

/** The handler of one continuation (one attempt of one carried task). */
class Follow implements FollowHandler {
  readonly #chains: Chains;
  readonly ride: Ride;
  readonly i: number;
  readonly attempt: number;
  /** Its start was accepted: from now on it is an attempt like any other. */
  #live = false;

  constructor(chains: Chains, ride: Ride, i: number, attempt: number) {
    this.#chains = chains;
    this.ride = ride;
    this.i = i;
    this.attempt = attempt;
  }

  onStart(at: number): void {
    this.#live = this.#chains.started(this, at);
  }

  onDone(outcome: JobOutcome): void {
    if (this.#live) this.#chains.host.settle(this.i, this.attempt, outcome);
  }

  onLog(message: string, at: number): void {
    if (this.#live) this.#chains.host.log(this.i, this.attempt, message, at);
  }

  onDropped(): void {
    this.#chains.dropped(this);
  }
}
