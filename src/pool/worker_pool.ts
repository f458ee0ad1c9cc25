import type { PlainError } from "../lib/errors.ts";
import type { WorkflowSource } from "../workflows/registry.ts";
import type { SandboxProfile } from "../workflows/permissions.ts";
import type { JsonObject } from "../workflows/types.ts";
import type { FromWorker, WorkflowInfo } from "./protocol.ts";
import type {
  FollowHandler,
  Job,
  JobHandler,
  JobHooks,
  JobOutcome,
  TaskPool,
} from "./task_pool.ts";
import { spawnWorker, specKey, stop, type WorkerLike, type WorkerSpec } from "./worker_spawn.ts";
import { cancelled, OkOutcome } from "./_outcomes.ts";
import type { MemoryLimitOptions } from "./memory_watchdog.ts";
import { ThreadMemoryGuard } from "./_memory_guard.ts";

export type { WorkerLike, WorkerSpec } from "./worker_spawn.ts";
export type { MemoryIncident, MemoryLimitOptions, MemorySuspect } from "./memory_watchdog.ts";

/** Jobs a worker may hold at once when all of them are known to be fast... */
const MIN_PIPELINE = 64;
/** ...or more, up to this many, while their expected time stays under PIPELINE_MS. */
const MAX_PIPELINE = 1024;
/** Expected work (ms) that may queue behind a worker beyond MIN_PIPELINE jobs. */
const PIPELINE_MS = 32;
/** Inspection answers kept for reuse. */
const MAX_INSPECTED = 1000;
/** A workflow whose recent attempts average below this many ms counts as fast. */
const FAST_MS = 1;

interface Pending {
  id: number;
  job: Job;
  key: string;
  handler: JobHandler;
  started: boolean;
  done: boolean;
  /** Counted in its slot's `slow` when dispatched. */
  slow: boolean;
  timer?: ReturnType<typeof setTimeout>;
  /** Chains (see `follow`): continuations may follow it. */
  link?: boolean;
  /** A continuation: the job it follows in the same worker. */
  after?: Pending;
  /** The continuation that follows it. */
  next?: Pending;
}

/** The `jobs` message being built for one worker in one dispatch. */
interface Batch {
  /** Index of each source in `sources`. */
  index: Map<WorkflowSource, number>;
  /** JSON text of each source. */
  sources: string[];
  jobs: string[];
}

interface Slot {
  /** Spawned on first need; undefined until then and after a timeout or crash. */
  worker: WorkerLike | undefined;
  /** Key of the spec its worker was made for ("" for an inheriting thread). */
  profile: string;
  spec: WorkerSpec;
  inflight: Map<number, Pending>;
  /** In-flight jobs that were not known to be fast when dispatched. */
  slow: number;
}

/** Options of {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /** Number of workers: the bound on attempts running at once. */
  size: number;
  /**
   * Creates one worker in a sandbox (undefined: inherit the process's permissions).
   * Default: a module Web Worker running `worker_main.ts` with those Deno permissions.
   */
  spawn?: (spec: WorkerSpec) => WorkerLike;
  /** Sandbox of jobs whose source has none, and of inspections. Default: inherit. */
  defaultSandbox?: SandboxProfile;
  /**
   * Workflows to run in worker processes although they did not ask (the memory
   * quarantine): returns the process options, or undefined for a thread.
   */
  isolate?: (source: WorkflowSource) => { memoryMb?: number } | undefined;
  /** Watch this process's RSS while jobs run in threads (see `MemoryLimitOptions`). */
  memoryLimit?: MemoryLimitOptions;
}

/**
 * A bounded pool of Web Workers, reused across tasks and runs; each worker caches the
 * plugin modules it has loaded and runs one attempt at a time.
 *
 * Workers start lazily: a slot's worker is spawned when a job finds no idle worker of its
 * kind, or by an inspection, which starts as many as it has tasks to validate (one for a
 * one-task DAG), so that a run's workers have imported its plugins by the time it
 * starts. A process that only validates one-task DAGs starts one worker.
 *
 * Dispatch is FIFO to the least-loaded worker. A worker gets one job at a time until a
 * workflow has shown itself fast (under 1 ms on average); jobs of fast workflows are then
 * pipelined, up to 64 per worker (more for faster ones: as many as make about 32 ms, at
 * most 1024), sent as one JSON text per worker and dispatch, which amortises the
 * cross-thread cost without letting a slow job hold others back.
 *
 * Sandboxes: a job runs in a worker whose Deno permissions are its workflow's profile
 * (`source.sandbox`). Workers are shared by jobs of the same profile; when a job needs a
 * profile no worker has, an idle worker is replaced by one with that profile, so the pool
 * never holds more than `size` workers. Inspections run in the default profile.
 *
 * Isolation: a workflow may ask for a worker process (`isolation: "process"`), and a
 * workflow whose attempt timed out in a thread is moved to worker processes for the rest
 * of this pool's life, because only a process can really be stopped (SIGKILL). So a
 * plugin that spins leaks at most one thread, however often it runs.
 *
 * Timeouts are timed on this thread from the moment the worker reports the start. A
 * timed-out worker is replaced at once, because `terminate()` cannot stop a synchronous
 * loop in Deno >= 2.7.6: the jobs queued behind it go back to the queue, and the old
 * thread is counted in `leakedWorkers`.
 */
export class WorkerPool implements TaskPool {
  readonly size: number;
  #slots: Slot[] = [];
  #queue: Pending[] = [];
  #qHead = 0;
  #nextId = 1;
  #dispatchScheduled = false;
  #speed = new Map<string, number>();
  #inspections = new Map<number, (info: WorkflowInfo) => void>();
  #spawn: (spec: WorkerSpec) => WorkerLike;
  /** Workflow keys that timed out in a thread: they run in processes from now on. */
  #escalated = new Set<string>();
  #defaultSandbox?: SandboxProfile;
  #inspector?: WorkerLike;
  #wire = new WeakMap<WorkflowSource, WorkflowSource>();
  /** JSON text of the wire form of each source. */
  #sourceJson = new WeakMap<WorkflowSource, string>();
  /** JSON text of params objects (a task's params are the same object in every attempt). */
  #paramsJson = new WeakMap<object, string>();
  #lastRunId = "";
  #lastRunIdJson = '""';
  #keys = new WeakMap<WorkflowSource, string>();
  #inspected = new Map<string, Promise<WorkflowInfo>>();
  #closed = false;
  #leaked = 0;
  #isolate?: (source: WorkflowSource) => { memoryMb?: number } | undefined;
  #memory?: ThreadMemoryGuard<Pending>;
  /** Links of chains not ended, by job (see `follow`). */
  #links = new Map<Job, Pending>();
  /** Continuations to send to workers already running their predecessors. */
  #followUps: { slot: Slot; p: Pending }[] = [];

  /** @param options Pool size and worker factory. */
  constructor(options: WorkerPoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) {
      throw new RangeError(`Pool size must be a whole number >= 1: got ${options.size}`);
    }
    this.size = options.size;
    this.#spawn = options.spawn ?? spawnWorker;
    this.#defaultSandbox = options.defaultSandbox;
    this.#isolate = options.isolate;
    if (options.memoryLimit) {
      this.#memory = new ThreadMemoryGuard(options.memoryLimit, {
        busyThreads: () => this.#slots.some((s) => s.inflight.size > 0 && !s.spec.process),
        suspects: () => this.#memorySuspects(),
        fail: (p, error) => this.#failAndReplace(p, error),
        shutdown: (reason) => this.#shutdown(reason),
      });
    }
    // Workers start lazily: a slot's worker is spawned when a job or an inspection
    // needs it, so a process that only validates pays for one worker at most.
    for (let i = 0; i < options.size; i++) {
      this.#slots.push({ worker: undefined, profile: "", spec: {}, inflight: new Map(), slow: 0 });
    }
  }

  /** Thread workers replaced after a timeout or crash whose threads may still be running. */
  get leakedWorkers(): number {
    return this.#leaked;
  }

  run(job: Job, hooks?: JobHooks): Promise<JobOutcome> {
    return new Promise((resolve) => {
      this.submit(job, {
        onStart: hooks?.onStart && ((at) => hooks.onStart!(at)),
        onLog: hooks?.onLog && ((message, at) => hooks.onLog!(message, at)),
        onDone: resolve,
      });
    });
  }

  submit(job: Job, handler: JobHandler): void {
    this.#enqueue(job, handler);
  }

  submitLink(job: Job, handler: JobHandler): void {
    const p = this.#enqueue(job, handler);
    if (p.done) return;
    p.link = true;
    this.#links.set(job, p);
  }

  follow(after: Job, job: Job, handler: FollowHandler): boolean {
    const a = this.#links.get(after);
    if (!a || a.done || a.next || this.#closed) return false;
    // While more jobs wait than there are workers, the workers have other work and a
    // round trip per link is not what holds the chain back: no continuations then.
    if (this.#queue.length - this.#qHead > this.size) return false;
    const p = this.#pending(job, handler);
    // Only within the same worker: the same sandbox and thread or process.
    if (job.source !== after.source && specKey(this.#specFor(p)) !== specKey(this.#specFor(a))) {
      return false;
    }
    p.link = true;
    p.after = a;
    a.next = p;
    this.#links.set(job, p);
    // Sent with its predecessor when that is still queued, else on its own now.
    const slot = this.#slots.find((s) => s.inflight.has(a.id));
    if (slot) {
      slot.inflight.set(p.id, p);
      this.#followUps.push({ slot, p });
      this.#scheduleDispatch();
    }
    return true;
  }

  /** Drops the continuations from `p` on, unstarted: their handlers hear `onDropped`. */
  #dropFrom(p: Pending | undefined): void {
    if (p && p.after?.next === p) p.after.next = undefined;
    for (; p && !p.done; p = p.next) {
      p.done = true;
      this.#links.delete(p.job);
      for (const s of this.#slots) s.inflight.delete(p.id);
      if (p.timer !== undefined) clearTimeout(p.timer);
      const h = p.handler as FollowHandler;
      queueMicrotask(() => h.onDropped());
    }
  }

  #enqueue(job: Job, handler: JobHandler): Pending {
    const p = this.#pending(job, handler);
    if (this.#closed) {
      this.#settle(p, cancelled(`Pool is closed`));
      return p;
    }
    this.#queue.push(p);
    this.#memory?.start();
    this.#scheduleDispatch();
    return p;
  }

  #pending(job: Job, handler: JobHandler): Pending {
    return {
      id: this.#nextId++,
      job,
      key: this.#keyOf(job.source),
      handler,
      started: false,
      done: false,
      slow: false,
      // One shape for every pending job, links or not.
      timer: undefined,
      link: false,
      after: undefined,
      next: undefined,
    };
  }

  /** Speed and escalation key of a workflow: its sandbox and where it lives. */
  #keyOf(source: WorkflowSource): string {
    let k = this.#keys.get(source);
    if (k === undefined) {
      k = (source.sandbox?.key ?? "") + "|" +
        (source.kind === "file" ? source.url : source.name);
      this.#keys.set(source, k);
    }
    return k;
  }

  /** Inspects each source in one worker and has the other workers import it too. */
  inspect(
    requests: { source: WorkflowSource; paramSets: JsonObject[] }[],
    options?: { parallelism?: number },
  ): Promise<WorkflowInfo[]> {
    // Inspection precedes a run of these tasks: start the workers it may use meanwhile
    // (one for a single task, as for each schedule's DAG of `scheduler --once`).
    let tasks = 0;
    for (const r of requests) tasks += r.paramSets.length;
    // A chain needs one worker: a second one would only compete for the cores as it starts.
    const want = Math.max(1, Math.min(this.size, tasks, options?.parallelism ?? tasks));
    return Promise.all(requests.map((r, i) => {
      // A module is imported once per worker, so the same question gets the same answer:
      // validating 100 schedules of one DAG asks the worker once.
      const memo = this.#keyOf(r.source) + "\n" + JSON.stringify(r.paramSets);
      const known = this.#inspected.get(memo);
      if (known) return known;
      const asked = new Promise<WorkflowInfo>((resolve) => {
        const id = this.#nextId++;
        this.#inspections.set(id, resolve);
        const source = this.#wireSource(r.source);
        // Only workers in the default sandbox load a module before its profile is known.
        const plain = this.#plainWorkers(want);
        const target = plain.length ? plain[i % plain.length] : this.#inspectorWorker();
        target.postMessage({ type: "inspect", id, source, paramSets: r.paramSets });
        // Inspection precedes a run: the other running workers import the module meanwhile.
        for (const w of plain) if (w !== target) w.postMessage({ type: "preload", source });
      });
      if (this.#inspected.size >= MAX_INSPECTED) this.#inspected.clear();
      this.#inspected.set(memo, asked);
      // Failures (a plugin that could not be imported yet) are asked again next time.
      asked.then((info) => info.error && this.#inspected.delete(memo));
      return asked;
    }));
  }

  cancelRun(runId: string, reason: string): void {
    for (let i = this.#qHead; i < this.#queue.length; i++) {
      const p = this.#queue[i];
      if (p.job.runId === runId && !p.done) this.#settle(p, cancelled(reason));
    }
    for (const slot of this.#slots) {
      for (const p of slot.inflight.values()) {
        if (p.job.runId === runId) slot.worker?.postMessage({ type: "abort", id: p.id, reason });
      }
    }
  }

  close(): Promise<void> {
    this.#shutdown("Pool closed");
    return Promise.resolve();
  }

  /** Cancels every job with `reason` and stops the workers. */
  #shutdown(reason: string): void {
    this.#closed = true;
    this.#memory?.stop();
    for (const slot of this.#slots) {
      for (const p of slot.inflight.values()) this.#settle(p, cancelled(reason));
      slot.inflight.clear();
      stop(slot.worker);
      slot.worker = undefined;
    }
    this.#inspector?.terminate();
    for (let i = this.#qHead; i < this.#queue.length; i++) {
      this.#settle(this.#queue[i], cancelled(reason));
    }
    this.#queue = [];
    this.#qHead = 0;
  }

  /**
   * Over the memory limit: the job running in each busy thread is a suspect (a thread runs
   * its jobs in order, so it is the first in flight), unless it is of a workflow known to be
   * fast while others are not.
   */
  #memorySuspects() {
    const suspects: Pending[] = [];
    for (const s of this.#slots) {
      if (!s.worker || s.spec.process) continue;
      for (const p of s.inflight.values()) {
        if (p.done || (p.after && !p.started)) continue;
        suspects.push(p);
        break;
      }
    }
    // A job of a workflow known to finish in under a millisecond only happened to be there.
    const slow = suspects.filter((p) => !this.#isFast(p.key));
    return (slow.length ? slow : suspects).map((p) => ({
      job: p,
      suspect: {
        source: p.job.source,
        runId: p.job.runId,
        taskId: p.job.taskId,
        attempt: p.job.attempt,
      },
    }));
  }

  /** Fails a job in flight and replaces its worker (the jobs queued behind it go back). */
  #failAndReplace(p: Pending, error: PlainError): void {
    for (const slot of this.#slots) {
      if (!slot.inflight.delete(p.id)) continue;
      const now = Date.now();
      this.#settle(p, { ok: false, error, startedAt: now, endedAt: now });
      this.#replace(slot);
      return;
    }
  }

  get #defaultKey(): string {
    return this.#defaultSandbox?.key ?? "";
  }

  /**
   * Workers of the default sandbox, spawning free slots' workers until there are `want`
   * (as far as the pool has room).
   */
  #plainWorkers(want: number): WorkerLike[] {
    const key = this.#defaultKey;
    const plain: WorkerLike[] = [];
    for (const s of this.#slots) if (s.worker && s.profile === key) plain.push(s.worker);
    for (const s of this.#slots) {
      if (plain.length >= want) break;
      if (s.worker) continue;
      this.#attach(s, { sandbox: this.#defaultSandbox });
      plain.push(s.worker!);
    }
    return plain;
  }

  #attach(slot: Slot, spec: WorkerSpec): void {
    const worker = this.#spawn(spec);
    worker.onmessage = (e) => this.#onMessage(slot, e.data);
    worker.onerror = (e) => this.#onError(slot, e);
    slot.worker = worker;
    slot.profile = specKey(spec);
    slot.spec = spec;
  }

  /** The worker a job needs: its sandbox, and a process if asked for or escalated. */
  #specFor(p: Pending): WorkerSpec {
    const src = p.job.source;
    const sandbox = src.sandbox ?? this.#defaultSandbox;
    if (src.isolation?.process) return { sandbox, process: src.isolation.process };
    if (this.#escalated.has(p.key)) return { sandbox, process: {} };
    const quarantined = this.#isolate?.(src);
    if (quarantined) return { sandbox, process: quarantined };
    return { sandbox };
  }

  /** A worker in the default sandbox for inspections, when every slot has another profile. */
  #inspectorWorker(): WorkerLike {
    if (!this.#inspector) {
      const w = this.#spawn({ sandbox: this.#defaultSandbox });
      w.onmessage = (e) => {
        const msg = e.data;
        if (msg.type === "inspected") {
          this.#inspections.get(msg.id)?.(msg.info);
          this.#inspections.delete(msg.id);
        }
      };
      w.onerror = (e) => e.preventDefault();
      this.#inspector = w;
    }
    return this.#inspector;
  }

  /** The source as sent to workers: without the sandbox, which only the pool needs. */
  #wireSource(source: WorkflowSource): WorkflowSource {
    if (!source.sandbox && !source.isolation) return source;
    let w = this.#wire.get(source);
    if (!w) {
      const { sandbox: _s, isolation: _i, ...rest } = source;
      w = rest as WorkflowSource;
      this.#wire.set(source, w);
    }
    return w;
  }

  #scheduleDispatch(): void {
    if (this.#dispatchScheduled) return;
    this.#dispatchScheduled = true;
    queueMicrotask(() => this.#dispatch());
  }

  #isFast(key: string): boolean {
    const ms = this.#speed.get(key);
    return ms !== undefined && ms < FAST_MS;
  }

  /**
   * How many jobs of a fast workflow a worker may hold: 64, or as many as make about
   * 32 ms of its average time, up to 1024. Fewer, larger messages mean fewer thread
   * wake-ups; the bound keeps what waits behind one worker short.
   */
  #pipelineDepth(key: string): number {
    const ms = this.#speed.get(key)!;
    return Math.max(MIN_PIPELINE, Math.min(MAX_PIPELINE, Math.floor(PIPELINE_MS / ms)));
  }

  #pick(p: Pending): Slot | undefined {
    const fast = this.#isFast(p.key);
    const depth = fast ? this.#pipelineDepth(p.key) : 1;
    const spec = this.#specFor(p);
    const profile = specKey(spec);
    let best: Slot | undefined;
    let unspawned: Slot | undefined;
    let idleOther: Slot | undefined;
    for (const s of this.#slots) {
      const n = s.inflight.size;
      if (!s.worker) {
        unspawned ??= s;
        continue;
      }
      if (s.profile !== profile) {
        if (n === 0 && !idleOther) idleOther = s;
        continue;
      }
      const ok = n === 0 || (fast && s.slow === 0 && n < depth);
      if (ok && (!best || n < best.inflight.size)) best = s;
    }
    // An idle worker of this kind first; then a new worker, while the pool has room.
    if (best && best.inflight.size === 0) return best;
    if (unspawned) {
      this.#attach(unspawned, spec);
      return unspawned;
    }
    if (best || !idleOther) return best;
    // No worker has this sandbox: swap an idle one (it is idle, so terminate() stops it).
    stop(idleOther.worker);
    this.#attach(idleOther, spec);
    return idleOther;
  }

  #dispatch(): void {
    this.#dispatchScheduled = false;
    if (this.#closed) return;
    const batches = new Map<Slot, Batch>();
    if (this.#followUps.length) this.#batchFollowUps(batches);
    while (this.#qHead < this.#queue.length) {
      const p = this.#queue[this.#qHead];
      if (p.done) {
        this.#qHead++;
        continue;
      }
      const slot = this.#pick(p);
      if (!slot) break;
      this.#qHead++;
      slot.inflight.set(p.id, p);
      p.slow = !this.#isFast(p.key);
      if (p.slow) slot.slow++;
      let batch = batches.get(slot);
      if (!batch) batches.set(slot, batch = { index: new Map(), sources: [], jobs: [] });
      batch.jobs.push(this.#jobJson(p, batch));
      for (let c = p.next; c && !c.done; c = c.next) {
        slot.inflight.set(c.id, c);
        batch.jobs.push(this.#jobJson(c, batch));
      }
    }
    if (this.#qHead > 1024 && this.#qHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#qHead);
      this.#qHead = 0;
    }
    for (const [slot, b] of batches) {
      const lengths = new Array<number>(b.jobs.length);
      for (let k = 0; k < lengths.length; k++) lengths[k] = b.jobs[k].length;
      slot.worker!.postMessage({
        type: "jobs",
        sources: `[${b.sources.join(",")}]`,
        jobs: `[${b.jobs.join(",")}]`,
        lengths,
      });
    }
  }

  /** Adds continuations of jobs already sent to their workers' batches. */
  #batchFollowUps(batches: Map<Slot, Batch>): void {
    for (const { slot, p } of this.#followUps) {
      if (p.done || !slot.inflight.has(p.id)) continue;
      let batch = batches.get(slot);
      if (!batch) batches.set(slot, batch = { index: new Map(), sources: [], jobs: [] });
      batch.jobs.push(this.#jobJson(p, batch));
    }
    this.#followUps = [];
  }

  /**
   * One job of a batch as JSON text (a `WireJob`). Params
   * are stringified once per object; upstream outputs are embedded as the JSON text they
   * already are, so the worker parses them along with the batch.
   */
  #jobJson(p: Pending, batch: Batch): string {
    const j = p.job;
    let s = batch.index.get(j.source);
    if (s === undefined) {
      const wire = this.#wireSource(j.source);
      let json = this.#sourceJson.get(wire);
      if (json === undefined) this.#sourceJson.set(wire, json = JSON.stringify(wire));
      s = batch.sources.push(json) - 1;
      batch.index.set(j.source, s);
    }
    if (j.runId !== this.#lastRunId) {
      this.#lastRunId = j.runId;
      this.#lastRunIdJson = JSON.stringify(j.runId);
    }
    let text = `{"id":${p.id},"s":${s},"runId":${this.#lastRunIdJson},"taskId":${
      JSON.stringify(j.taskId)
    },"attempt":${j.attempt}`;
    let refs = false;
    const params = this.#json(j.params);
    if (params !== undefined) {
      text += `,"params":${params}`;
      refs = params.includes("${env:");
    }
    const up = j.upstream;
    if (up?.length) {
      text += `,"upstream":[[${JSON.stringify(up[0][0])},${up[0][1]}]`;
      for (let k = 1; k < up.length; k++) text += `,[${JSON.stringify(up[k][0])},${up[k][1]}]`;
      text += "]";
    }
    const run = this.#json(j.runParams);
    if (run !== undefined) {
      text += `,"runParams":${run}`;
      refs ||= run.includes("${env:");
    }
    if (j.timeoutMs !== undefined) text += `,"timeoutMs":${JSON.stringify(j.timeoutMs)}`;
    if (p.link) text += p.after ? `,"after":${p.after.id}` : `,"link":true`;
    return refs ? text + `,"refs":true}` : text + "}";
  }

  /** JSON text of a params object, cached per object; undefined stays undefined. */
  #json(v: JsonObject | undefined): string | undefined {
    if (v === undefined) return undefined;
    if (v === null || typeof v !== "object") return JSON.stringify(v);
    let json = this.#paramsJson.get(v);
    if (json === undefined) this.#paramsJson.set(v, json = JSON.stringify(v));
    return json;
  }

  #onMessage(slot: Slot, msg: FromWorker): void {
    if (msg.type === "inspected") {
      this.#inspections.get(msg.id)?.(msg.info);
      this.#inspections.delete(msg.id);
      return;
    }
    if (msg.chain) return this.#onChainReport(slot, msg);
    for (const s of msg.started) {
      const p = slot.inflight.get(s.id);
      if (p) this.#markStarted(slot, p, s.at);
    }
    const { ended, outputs, errors } = msg;
    // Starts first, so a synchronous task's log lines come after its task_start.
    for (let k = 0; k < ended.length; k += 4) {
      const p = slot.inflight.get(ended[k]);
      if (p) this.#markStarted(slot, p, ended[k + 1]);
    }
    for (const l of msg.logs) slot.inflight.get(l.id)?.handler.onLog?.(l.message, l.at);
    let off = 0;
    for (let k = 0; k < ended.length; k += 4) {
      const len = ended[k + 3];
      let outcome: JobOutcome;
      if (len >= 0) {
        outcome = new OkOutcome(outputs.slice(off, off += len), ended[k + 1], ended[k + 2]);
      } else {
        const error = errors[-1 - len] ?? { name: "Error", message: "unknown error" };
        outcome = { ok: false, error, startedAt: ended[k + 1], endedAt: ended[k + 2] };
      }
      this.#onResult(slot, ended[k], outcome);
    }
    if (msg.dropped) { for (const id of msg.dropped) this.#dropFrom(slot.inflight.get(id)); }
    this.#scheduleDispatch();
  }

  /**
   * A report in which continuations ran: each attempt in `ended` in the order it ran
   * (start, log lines, end), so a link's end reaches its handler before the next link's
   * start; then what started and has not ended, and its log lines.
   */
  #onChainReport(slot: Slot, msg: Extract<FromWorker, { type: "report" }>): void {
    const { ended, outputs } = msg;
    const logs = msg.logs.length ? Map.groupBy(msg.logs, (l) => l.id) : undefined;
    let off = 0;
    for (let k = 0; k < ended.length; k += 4) {
      const id = ended[k];
      const len = ended[k + 3];
      const p = slot.inflight.get(id);
      if (p) this.#markStarted(slot, p, ended[k + 1]);
      const own = logs?.get(id);
      if (own) {
        for (const l of own) p?.handler.onLog?.(l.message, l.at);
        logs!.delete(id);
      }
      this.#onResult(
        slot,
        id,
        endedOutcome(msg, k, len >= 0 ? outputs.slice(off, off += len) : ""),
      );
    }
    for (const s of msg.started) {
      const p = slot.inflight.get(s.id);
      if (p) this.#markStarted(slot, p, s.at);
    }
    for (const l of logs?.values() ?? []) {
      for (const x of l) slot.inflight.get(x.id)?.handler.onLog?.(x.message, x.at);
    }
    if (msg.dropped) { for (const id of msg.dropped) this.#dropFrom(slot.inflight.get(id)); }
    this.#scheduleDispatch();
  }

  #markStarted(slot: Slot, p: Pending, at: number): void {
    if (p.started) return;
    p.started = true;
    p.handler.onStart?.(at);
    const ms = p.job.timeoutMs;
    if (ms !== undefined) p.timer = setTimeout(() => this.#onTimeout(slot, p), ms);
  }

  #onResult(slot: Slot, id: number, outcome: JobOutcome): void {
    const p = slot.inflight.get(id);
    if (!p) return;
    slot.inflight.delete(id);
    if (p.slow) slot.slow--;
    const dur = outcome.endedAt - outcome.startedAt;
    const prev = this.#speed.get(p.key);
    this.#speed.set(p.key, prev === undefined ? dur : prev * 0.8 + dur * 0.2);
    this.#markStarted(slot, p, outcome.startedAt);
    // Called from a worker's message, so the handler may run at once.
    p.done = true;
    if (p.timer !== undefined) clearTimeout(p.timer);
    if (p.link) this.#linkEnded(p, outcome.ok);
    p.handler.onDone(outcome);
  }

  /** A link ended: it leaves the chain table; its continuations are dropped unless it succeeded. */
  #linkEnded(p: Pending, ok: boolean): void {
    this.#links.delete(p.job);
    if (p.after) p.after.next = undefined;
    if (!ok) this.#dropFrom(p.next);
  }

  #onTimeout(slot: Slot, p: Pending): void {
    if (p.done || !slot.inflight.has(p.id)) return;
    slot.inflight.delete(p.id);
    const s = (p.job.timeoutMs ?? 0) / 1000;
    const now = Date.now();
    this.#settle(p, {
      ok: false,
      error: { name: "TimeoutError", message: `Attempt timed out after ${s}s` },
      startedAt: now - (p.job.timeoutMs ?? 0),
      endedAt: now,
      timedOut: true,
    });
    // A thread cannot be stopped; from now on this workflow runs in killable processes.
    if (!slot.spec.process) this.#escalated.add(p.key);
    this.#replace(slot);
  }

  #onError(slot: Slot, e: ErrorEvent): void {
    e.preventDefault();
    const running = [...slot.inflight.values()].find((p) => p.started) ??
      slot.inflight.values().next().value;
    if (running) {
      slot.inflight.delete(running.id);
      const now = Date.now();
      const error: PlainError = e.error?.name === "MemoryLimitError"
        ? { name: e.error.name, message: `Workflow "${running.job.source.name}" ${e.message}` }
        : { name: "WorkerError", message: `Worker crashed: ${e.message}` };
      this.#settle(running, { ok: false, error, startedAt: now, endedAt: now });
    }
    this.#replace(slot);
  }

  /** Swaps a slot's worker for a new one and requeues the jobs that had not started. */
  #replace(slot: Slot): void {
    // Continuations never go back to the queue: without their predecessor's output in
    // their worker they cannot run; their handlers hear onDropped.
    for (const p of slot.inflight.values()) if (p.after && !p.done) this.#dropFrom(p);
    const requeue = [...slot.inflight.values()].filter((p) => !p.done);
    for (const p of requeue) p.next = undefined;
    slot.inflight.clear();
    slot.slow = 0;
    stop(slot.worker);
    // The next job that needs a worker spawns a new one.
    slot.worker = undefined;
    if (!slot.spec.process) this.#leaked++;
    if (this.#closed) return;
    for (const p of requeue) p.started = false;
    this.#queue.splice(this.#qHead, 0, ...requeue);
    this.#scheduleDispatch();
  }

  /** Ends a job; its handler runs in a microtask (callers may be inside the executor). */
  #settle(p: Pending, outcome: JobOutcome): void {
    if (p.done) return;
    if (p.after && !p.started) return this.#dropFrom(p);
    p.done = true;
    if (p.timer !== undefined) clearTimeout(p.timer);
    queueMicrotask(() => p.handler.onDone(outcome));
    if (p.link) this.#linkEnded(p, false);
  }
}

/**
 * The outcome of the attempt at `ended[k]` of a report.
 * @param outputJson Its output text (ok attempts).
 */
function endedOutcome(
  msg: Extract<FromWorker, { type: "report" }>,
  k: number,
  outputJson: string,
): JobOutcome {
  const { ended, errors } = msg;
  const len = ended[k + 3];
  if (len >= 0) return new OkOutcome(outputJson, ended[k + 1], ended[k + 2]);
  const error = errors[-1 - len] ?? { name: "Error", message: "unknown error" };
  return { ok: false, error, startedAt: ended[k + 1], endedAt: ended[k + 2] };
}
