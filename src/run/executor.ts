import type { Dag } from "../dag/types.ts";
import type { Plan } from "../plan/build_plan.ts";
import type { Clock } from "../lib/clock.ts";
import { isoTimestamp } from "../lib/iso_time.ts";
import type { Sleep } from "../lib/sleep.ts";
import type { Job, JobHandler, JobOutcome, TaskPool, UpstreamOutput } from "../pool/task_pool.ts";
import { EVENT_SCHEMA_VERSION, type RunEvent, type Trigger } from "../store/events.ts";
import type { WorkflowSource } from "../workflows/registry.ts";
import type { JsonObject } from "../workflows/types.ts";
import { nextDelay } from "./backoff.ts";
import type { EventSink, RunResult, TaskResult } from "./types.ts";
import { type ChainHost, Chains } from "./_continuation.ts";

/** Everything one execution needs. Sources are resolved and validated beforehand. */
export interface ExecuteOptions {
  dag: Dag;
  plan: Plan;
  /** Workflow source of each task, by task index. */
  sources: readonly WorkflowSource[];
  pool: TaskPool;
  events: EventSink;
  clock: Clock;
  sleep: Sleep;
  runId: string;
  trigger?: Trigger;
  scheduleId?: string;
  retryOf?: string;
  /** Run params passed to every task as `run__<key>`. */
  runParams?: JsonObject;
  /** Outputs of tasks that succeeded in an earlier run, reused instead of running. */
  reuse?: ReadonlyMap<string, JsonObject>;
  /** Random source for backoff jitter. */
  random?: () => number;
  /** Longest retry delay in seconds (default 300). */
  maxDelayS?: number;
  /** Aborting it cancels the run: queued tasks are skipped, running ones see ctx.signal. */
  signal?: AbortSignal;
  /** Called with every event, after it is queued for the log. */
  onEvent?: (event: RunEvent) => void;
}

const enum S {
  Pending,
  Running,
  Success,
  Failed,
  Skipped,
}

/**
 * Executes a planned DAG: a task starts as soon as all of its own dependencies succeeded
 * (no level barrier); attempts go through the pool; failures retry with backoff; after
 * the last attempt the task fails and its dependants are skipped while independent
 * branches run on. Every fact is emitted as an event.
 * @param options The DAG, its plan, the pool and the seams.
 * @returns How the run ended. Never rejects for task failures.
 */
export function executeDag(options: ExecuteOptions): Promise<RunResult> {
  return new Execution(options).start();
}

class Execution implements ChainHost {
  readonly o: ExecuteOptions;
  readonly n: number;
  readonly state: Uint8Array;
  readonly waiting: Int32Array;
  readonly attempts: Int32Array;
  /** Outputs as objects, when something already parsed them (reuse, `onEvent`). */
  readonly outputs: (JsonObject | undefined)[];
  /**
   * `[taskId, outputJson]` of each succeeded task, shared by all of its dependants:
   * outputs as JSON text are what dependants' workers receive.
   */
  readonly upstreamEntry: (UpstreamOutput | undefined)[];
  readonly errors: (string | undefined)[];
  readonly reusedFrom: (string | undefined)[];
  readonly base: { run_id: string; dag_name: string; tenant_id: string };
  /** Per-task events are written as text (see {@link EventSink.appendLine}). */
  readonly asText: boolean;
  /** `,"run_id":..,"dag_name":..,"tenant_id":..,"v":1}`: the end of every event line. */
  readonly lineTail: string;
  /** Per task, `"<id>"` as JSON, filled on first use. */
  readonly idJson: (string | undefined)[];
  /** Per task, `,"workflow_ref":..,"params":..` of task_start, filled on first use. */
  readonly startJson: (string | undefined)[];
  readonly startedAt: Date;
  readonly abort = new AbortController();
  /** Chain continuations, when the pool runs them (see `_continuation.ts`). */
  readonly chains: Chains | undefined;
  decided = 0;
  counts = { success: 0, failed: 0, skipped: 0 };
  resolve!: (r: RunResult) => void;

  constructor(o: ExecuteOptions) {
    this.o = o;
    this.n = o.dag.tasks.length;
    this.state = new Uint8Array(this.n);
    this.waiting = new Int32Array(this.n);
    this.attempts = new Int32Array(this.n);
    this.outputs = new Array(this.n);
    this.upstreamEntry = new Array(this.n);
    this.errors = new Array(this.n);
    this.reusedFrom = new Array(this.n);
    this.base = { run_id: o.runId, dag_name: o.dag.name, tenant_id: o.dag.tenantId };
    this.asText = o.onEvent === undefined && typeof o.events.appendLine === "function";
    this.lineTail = `,"run_id":${JSON.stringify(o.runId)},"dag_name":${
      JSON.stringify(o.dag.name)
    },"tenant_id":${JSON.stringify(o.dag.tenantId)},"v":${EVENT_SCHEMA_VERSION}}`;
    this.idJson = new Array(this.n);
    this.startJson = new Array(this.n);
    this.startedAt = o.clock.now();
    if (o.pool.follow && o.pool.submitLink) this.chains = new Chains(this, o.plan, o.pool);
  }

  start(): Promise<RunResult> {
    const { o, n } = this;
    const done = new Promise<RunResult>((r) => this.resolve = r);
    this.emit(this.startedAt.getTime(), {
      event: "dag_start",
      tasks: n,
      trigger: o.trigger ?? "manual",
      ...(o.dag.file ? { dag_file: o.dag.file } : {}),
      ...(o.scheduleId ? { schedule_id: o.scheduleId } : {}),
      ...(o.retryOf ? { retry_of: o.retryOf } : {}),
      task_ids: o.plan.ids,
      edges: o.plan.dependsOn.flatMap((deps, i) => deps.map((d) => [o.plan.ids[d], o.plan.ids[i]])),
    });
    if (o.signal) {
      if (o.signal.aborted) queueMicrotask(() => this.cancel());
      else o.signal.addEventListener("abort", () => this.cancel(), { once: true });
    }
    for (let i = 0; i < n; i++) this.waiting[i] = o.plan.dependsOn[i].length;
    for (const i of o.plan.order) {
      const reused = o.reuse?.get(o.plan.ids[i]);
      if (reused && this.state[i] === S.Pending) {
        this.succeed(i, reused, JSON.stringify(reused), 0);
      }
    }
    for (const i of o.plan.order) {
      if (this.waiting[i] === 0 && this.state[i] === S.Pending) this.launch(i);
    }
    if (n === 0 || this.decided === n) this.finish();
    return done;
  }

  /** Emits a rare event: `fields` go between `timestamp` and the run fields. */
  emit(atMs: number, fields: Record<string, unknown>): void {
    this.push({
      timestamp: isoTimestamp(atMs),
      ...fields,
      ...this.base,
      v: EVENT_SCHEMA_VERSION,
    } as unknown as RunEvent);
  }

  push(event: RunEvent): void {
    this.o.events.append(event);
    this.o.onEvent?.(event);
  }

  launch(i: number): void {
    if (this.abort.signal.aborted || this.chains?.carried(i)) return;
    const { o } = this;
    const attempt = ++this.attempts[i];
    this.state[i] = S.Running;
    const deps = o.plan.dependsOn[i];
    const upstream = new Array<UpstreamOutput>(deps.length);
    for (let k = 0; k < deps.length; k++) upstream[k] = this.upstreamEntry[deps[k]]!;
    const job = this.job(i, attempt, upstream);
    const handler = new TaskHandler(this, i, attempt);
    if (this.chains?.submit(i, job, handler)) return;
    // The callback form saves a promise and a reaction per attempt.
    if (o.pool.submit) o.pool.submit(job, handler);
    else o.pool.run(job, handler).then((outcome) => handler.onDone(outcome));
  }

  /** The job of one attempt; a continuation's upstream is filled in by its worker. */
  job(i: number, attempt: number, upstream?: UpstreamOutput[]): Job {
    const { o } = this;
    const task = o.dag.tasks[i];
    return {
      source: o.sources[i],
      params: task.params,
      upstream,
      runParams: o.runParams,
      runId: o.runId,
      taskId: task.id,
      attempt,
      timeoutMs: task.timeoutS !== undefined ? task.timeoutS * 1000 : undefined,
    };
  }

  isPending(i: number): boolean {
    return this.state[i] === S.Pending && !this.abort.signal.aborted;
  }

  isReady(i: number): boolean {
    return this.waiting[i] === 0 && this.isPending(i);
  }

  carriedStarted(i: number, attempt: number, at: number): boolean {
    if (!this.isReady(i)) return false;
    this.state[i] = S.Running;
    this.attempts[i] = attempt;
    this.taskStarted(i, attempt, at);
    return true;
  }

  log(i: number, attempt: number, message: string, at: number): void {
    this.emit(at, { event: "task_log", task_id: this.o.plan.ids[i], attempt, message });
  }

  /** `"<task id>"` as JSON. */
  taskIdJson(i: number): string {
    return this.idJson[i] ??= JSON.stringify(this.o.dag.tasks[i].id);
  }

  taskStarted(i: number, attempt: number, at: number): void {
    const task = this.o.dag.tasks[i];
    if (this.asText) {
      // The same fields in the same order as the object below, built as text.
      const rest = this.startJson[i] ??= `,"workflow_ref":${JSON.stringify(task.workflowRef)}${
        task.params === undefined ? "" : `,"params":${JSON.stringify(task.params)}`
      }`;
      this.o.events.appendLine!(
        `{"timestamp":"${isoTimestamp(at)}","event":"task_start","task_id":${
          this.taskIdJson(i)
        },"attempt":${attempt}${rest}${this.lineTail}`,
      );
      return;
    }
    this.push({
      timestamp: isoTimestamp(at),
      event: "task_start",
      task_id: task.id,
      attempt,
      workflow_ref: task.workflowRef,
      params: task.params,
      run_id: this.base.run_id,
      dag_name: this.base.dag_name,
      tenant_id: this.base.tenant_id,
      v: EVENT_SCHEMA_VERSION,
    });
  }

  settle(i: number, attempt: number, outcome: JobOutcome): void {
    if (this.state[i] !== S.Running) return;
    const task = this.o.dag.tasks[i];
    const durationS = round3((outcome.endedAt - outcome.startedAt) / 1000);
    if (outcome.ok && this.asText) {
      // As the object below, embedding the worker's output JSON text (no re-stringify).
      this.o.events.appendLine!(
        `{"timestamp":"${isoTimestamp(outcome.endedAt)}","event":"task_ok","task_id":${
          this.taskIdJson(i)
        },"attempt":${attempt},"duration_s":${
          JSON.stringify(durationS)
        },"output":${outcome.outputJson}${this.lineTail}`,
      );
      this.succeed(i, undefined, outcome.outputJson, attempt);
      return;
    }
    if (outcome.ok) {
      this.push({
        timestamp: isoTimestamp(outcome.endedAt),
        event: "task_ok",
        task_id: task.id,
        attempt,
        duration_s: durationS,
        output: outcome.output,
        run_id: this.base.run_id,
        dag_name: this.base.dag_name,
        tenant_id: this.base.tenant_id,
        v: EVENT_SCHEMA_VERSION,
      });
      this.succeed(i, outcome.output, outcome.outputJson, attempt);
      return;
    }
    const cancelled = outcome.ok === false && (outcome.cancelled || this.abort.signal.aborted);
    const willRetry = !cancelled && attempt <= task.retries;
    this.emit(outcome.endedAt, {
      event: "task_fail",
      task_id: task.id,
      attempt,
      error: outcome.error.message,
      error_name: outcome.error.name,
      duration_s: durationS,
      will_retry: willRetry,
    });
    if (willRetry) {
      const delayS = round3(nextDelay(attempt, {
        baseS: task.retryDelayS,
        capS: this.o.maxDelayS,
        random: this.o.random,
      }));
      this.emit(this.o.clock.now().getTime(), {
        event: "task_retry",
        task_id: task.id,
        attempt: attempt + 1,
        delay_s: delayS,
      });
      this.o.sleep(delayS * 1000, this.abort.signal).then(
        () => this.launch(i),
        () => this.fail(i, `Task '${task.id}' was cancelled before attempt ${attempt + 1}`),
      );
      return;
    }
    const message = cancelled
      ? `Task '${task.id}' was cancelled: ${outcome.error.message}`
      : `Task '${task.id}' failed after ${attempt} attempt${
        attempt === 1 ? "" : "s"
      }: ${outcome.error.message}`;
    this.fail(i, message);
  }

  /** @param output The output as an object, when it is at hand; else parsed at the end. */
  succeed(i: number, output: JsonObject | undefined, outputJson: string, attempt: number): void {
    const { o } = this;
    this.state[i] = S.Success;
    this.outputs[i] = output;
    this.upstreamEntry[i] = [o.plan.ids[i], outputJson];
    if (attempt === 0) {
      this.reusedFrom[i] = o.retryOf;
      this.emit(o.clock.now().getTime(), {
        event: "task_ok",
        task_id: o.plan.ids[i],
        attempt: 0,
        duration_s: 0,
        output,
        reused_from: o.retryOf,
      });
    }
    this.counts.success++;
    this.decided++;
    for (const c of o.plan.dependants[i]) {
      if (--this.waiting[c] === 0 && this.state[c] === S.Pending && attempt > 0) this.launch(c);
    }
    if (this.decided === this.n) this.finish();
  }

  fail(i: number, message: string): void {
    this.state[i] = S.Failed;
    this.errors[i] = message;
    this.counts.failed++;
    this.decided++;
    this.skipDependants(i, "upstream_failed");
    if (this.decided === this.n) this.finish();
  }

  skipDependants(root: number, reason: "upstream_failed" | "cancelled"): void {
    const { o } = this;
    const stack = [...o.plan.dependants[root]];
    const at = o.clock.now().getTime();
    while (stack.length) {
      const c = stack.pop()!;
      if (this.state[c] !== S.Pending) continue;
      this.state[c] = S.Skipped;
      this.counts.skipped++;
      this.decided++;
      this.emit(at, {
        event: "task_skipped",
        task_id: o.plan.ids[c],
        attempt: 0,
        reason,
        upstream: o.plan.ids[root],
      });
      for (const d of o.plan.dependants[c]) stack.push(d);
    }
  }

  cancel(): void {
    if (this.abort.signal.aborted || this.decided === this.n) return;
    const reason = String(this.o.signal?.reason ?? "Run cancelled");
    this.abort.abort(reason);
    this.o.pool.cancelRun(this.o.runId, reason);
    const at = this.o.clock.now().getTime();
    for (const i of this.o.plan.order) {
      if (this.state[i] !== S.Pending) continue;
      this.state[i] = S.Skipped;
      this.counts.skipped++;
      this.decided++;
      this.emit(at, {
        event: "task_skipped",
        task_id: this.o.plan.ids[i],
        attempt: 0,
        reason: "cancelled",
        upstream: "",
      });
    }
    if (this.decided === this.n) this.finish();
  }

  finish(): void {
    const { o } = this;
    const end = o.clock.now();
    const durationS = round3((end.getTime() - this.startedAt.getTime()) / 1000);
    const status = this.abort.signal.aborted
      ? "cancelled"
      : this.counts.failed + this.counts.skipped > 0
      ? "failed"
      : "success";
    this.emit(end.getTime(), {
      event: "dag_done",
      status,
      tasks_succeeded: this.counts.success,
      tasks_failed: this.counts.failed,
      tasks_skipped: this.counts.skipped,
      duration_s: durationS,
    });
    const tasks: TaskResult[] = o.plan.order.map((i) => {
      const st = this.state[i];
      const r: TaskResult = {
        id: o.plan.ids[i],
        workflowRef: o.dag.tasks[i].workflowRef,
        status: st === S.Success ? "success" : st === S.Failed ? "failed" : "skipped",
        attempts: this.attempts[i],
      };
      if (st === S.Success) r.output = this.outputs[i] ?? JSON.parse(this.upstreamEntry[i]![1]);
      if (this.errors[i]) r.error = this.errors[i];
      if (this.reusedFrom[i]) r.reusedFrom = this.reusedFrom[i];
      return r;
    });
    this.resolve({
      runId: o.runId,
      dagName: o.dag.name,
      tenantId: o.dag.tenantId,
      status,
      trigger: o.trigger ?? "manual",
      durationS,
      tasks,
      succeeded: this.counts.success,
      failed: this.counts.failed,
      skipped: this.counts.skipped,
    });
  }
}

/** Progress and end of one attempt; a class rather than closures, one per attempt. */
class TaskHandler implements JobHandler {
  readonly #run: Execution;
  readonly #i: number;
  readonly #attempt: number;

  constructor(run: Execution, i: number, attempt: number) {
    this.#run = run;
    this.#i = i;
    this.#attempt = attempt;
  }

  onStart(at: number): void {
    this.#run.taskStarted(this.#i, this.#attempt, at);
  }

  onDone(outcome: JobOutcome): void {
    this.#run.settle(this.#i, this.#attempt, outcome);
  }

  onLog(message: string, at: number): void {
    this.#run.log(this.#i, this.#attempt, message, at);
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
