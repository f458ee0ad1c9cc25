import { toPlainError } from "../lib/errors.ts";
import type { JsonObject, TaskContext } from "../workflows/types.ts";
// A leaf module with no imports of its own: the payload rule lives with the executor's
// other run semantics, and workers apply it.
import { mergePayload } from "../run/payload.ts";
import type { LoadedWorkflow, WorkflowLoader } from "./_workflow_loader.ts";
import type { FromWorker, JobRequest, JobResult, ToWorker } from "./protocol.ts";

function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The worker side of the pool: runs the jobs it is sent one at a time, in order, and
 * reports starts, log lines and results in batches (one message per turn of the event
 * loop). Synchronous workflows run back to back without yielding; a job with a timeout
 * reports its start before it runs, so the main thread can time it even when it never
 * yields again.
 */
export class SerialJobRunner {
  readonly #loader: WorkflowLoader;
  readonly #post: (msg: FromWorker) => void;
  readonly #queue: JobRequest[] = [];
  #head = 0;
  #running = false;
  #flushScheduled = false;
  /** A job is running synchronously inside the pump; the pump flushes after it. */
  #inSync = false;
  #started: { id: number; at: number }[] = [];
  #logs: { id: number; at: number; message: string }[] = [];
  #results: JobResult[] = [];
  readonly #controllers = new Map<number, AbortController>();

  /**
   * @param loader Imports and caches workflow modules.
   * @param post Sends a message to the main thread.
   */
  constructor(loader: WorkflowLoader, post: (msg: FromWorker) => void) {
    this.#loader = loader;
    this.#post = post;
  }

  /** @param msg A message from the main thread. */
  handle(msg: ToWorker): void {
    if (msg.type === "jobs") {
      for (const j of msg.jobs) this.#queue.push(j);
      if (!this.#running) this.#pump();
    } else if (msg.type === "abort") {
      this.#controllers.get(msg.id)?.abort(new DOMException(msg.reason, "AbortError"));
    } else if (msg.type === "preload") {
      this.#loader.load(msg.source).catch(() => {});
    } else if (msg.type === "inspect") {
      this.#loader.inspect(msg.source, msg.paramSets).then((info) =>
        this.#post({ type: "inspected", id: msg.id, info })
      );
    }
  }

  async #pump(): Promise<void> {
    this.#running = true;
    try {
      while (this.#head < this.#queue.length) {
        const job = this.#queue[this.#head];
        this.#queue[this.#head++] = undefined as unknown as JobRequest;
        if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue.splice(0, this.#head);
          this.#head = 0;
        }
        let wf = this.#loader.cached(job.source);
        if (!wf) {
          try {
            this.#flush();
            wf = await this.#loader.load(job.source);
          } catch (err) {
            const at = now();
            this.#finish({
              id: job.id,
              ok: false,
              error: toPlainError(err),
              startedAt: at,
              endedAt: at,
            });
            continue;
          }
        }
        const pending = this.#runOne(wf, job);
        if (pending) {
          // Report what finished before waiting, so fast results never wait on a slow one.
          this.#flush();
          await pending;
        }
      }
    } finally {
      this.#running = false;
      this.#flush();
    }
  }

  /** Runs one job; returns a promise only when the workflow is asynchronous. */
  #runOne(wf: LoadedWorkflow, job: JobRequest): Promise<void> | undefined {
    const startedAt = now();
    if (job.timeoutMs !== undefined) {
      this.#started.push({ id: job.id, at: startedAt });
      this.#flush();
    }
    const ctx = this.#context(job);
    let out: unknown;
    this.#inSync = true;
    try {
      out = wf.run(jobParams(job), ctx);
      if (!isThenable(out)) {
        this.#succeed(job, wf.name, startedAt, out);
        return;
      }
    } catch (err) {
      this.#fail(job, startedAt, err);
      return;
    } finally {
      this.#inSync = false;
    }
    if (job.timeoutMs === undefined) {
      this.#started.push({ id: job.id, at: startedAt });
      this.#scheduleFlush();
    }
    return Promise.resolve(out).then(
      (v) => this.#succeed(job, wf.name, startedAt, v),
      (err) => this.#fail(job, startedAt, err),
    );
  }

  #context(job: JobRequest): TaskContext {
    const controllers = this.#controllers;
    const logs = this.#logs;
    const schedule = () => this.#scheduleFlush();
    return {
      runId: job.runId,
      taskId: job.taskId,
      attempt: job.attempt,
      get signal(): AbortSignal {
        let c = controllers.get(job.id);
        if (!c) controllers.set(job.id, c = new AbortController());
        return c.signal;
      },
      log(message: string): void {
        logs.push({ id: job.id, at: now(), message: String(message) });
        schedule();
      },
    };
  }

  #succeed(job: JobRequest, name: string, startedAt: number, out: unknown): void {
    const endedAt = now();
    let problem: string | undefined;
    let outputJson: string | undefined;
    if (out === null || typeof out !== "object" || Array.isArray(out)) {
      const what = out === null ? "null" : Array.isArray(out) ? "an array" : typeof out;
      problem = `returned ${what}: run() must return a JSON object`;
    } else {
      try {
        outputJson = JSON.stringify(out as JsonObject);
      } catch (err) {
        problem = `returned an object that is not JSON-serialisable: ${toPlainError(err).message}`;
      }
    }
    if (problem) {
      const error = { name: "OutputError", message: `Workflow "${name}" ${problem}` };
      this.#finish({ id: job.id, ok: false, error, startedAt, endedAt });
    } else this.#finish({ id: job.id, ok: true, outputJson, startedAt, endedAt });
  }

  #fail(job: JobRequest, startedAt: number, err: unknown): void {
    this.#finish({ id: job.id, ok: false, error: toPlainError(err), startedAt, endedAt: now() });
  }

  #finish(result: JobResult): void {
    this.#controllers.delete(result.id);
    this.#results.push(result);
    // While the pump runs synchronous jobs it flushes before it waits or stops; a
    // timer here would only wake the worker for nothing.
    if (!this.#inSync) this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setTimeout(() => this.#flush(), 0);
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (!this.#started.length && !this.#logs.length && !this.#results.length) return;
    const msg: FromWorker = {
      type: "report",
      started: this.#started,
      logs: this.#logs,
      results: this.#results,
    };
    this.#started = [];
    this.#logs = [];
    this.#results = [];
    this.#post(msg);
  }
}

/** The params a job's workflow receives: own params, upstream outputs, run params. */
function jobParams(job: JobRequest): JsonObject {
  const { upstream, runParams } = job;
  if (!upstream?.length && !runParams) return job.params;
  const outputs = new Array<readonly [string, JsonObject]>(upstream?.length ?? 0);
  for (let k = 0; k < outputs.length; k++) {
    const [id, json] = upstream![k];
    outputs[k] = [id, JSON.parse(json)];
  }
  return mergePayload(job.params, outputs, runParams);
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") &&
    typeof (v as { then?: unknown }).then === "function";
}
