import { toPlainError } from "../lib/errors.ts";
import type { JsonObject, TaskContext } from "../workflows/types.ts";
// A leaf module with no imports of its own: the payload rule lives with the executor's
// other run semantics, and workers apply it.
import { mergePayload } from "../run/payload.ts";
import type { LoadedWorkflow, WorkflowLoader } from "./_workflow_loader.ts";
import { explainDenial } from "../workflows/permissions.ts";
import { redact, resolveSecrets } from "../workflows/secrets.ts";
import type { PlainError } from "../lib/errors.ts";
import type { WorkflowSource } from "../workflows/registry.ts";
import type { FromWorker, JobRequest, ToWorker, WireJob } from "./protocol.ts";
import { Continuations } from "./_continuations.ts";

/** Most log lines (ctx.log and captured console output) kept per attempt. */
const MAX_LOG_LINES = 1000;
/** Longest log line kept, in characters. */
const MAX_LOG_CHARS = 8192;
/**
 * Continuations run back to back without a turn of the event loop for at most this long
 * (ms); then the next one waits one turn first, so an abort sent meanwhile (a cancelled
 * run) is seen before it starts.
 */
const YIELD_EVERY_MS = 20;
/**
 * While a chain runs on, what ended is reported once this many attempts ended or this
 * many ms passed (the main thread writes their events and sends the next links).
 */
const CHAIN_REPORT_ENDS = 32;
const CHAIN_REPORT_MS = 1;

/** The attempt the pump is waiting on: uncaught errors and console output belong to it. */
interface Current {
  job: JobRequest;
  name: string;
  startedAt: number;
  abandon(): void;
}

/** `performance.timeOrigin` is a getter; read once (now() runs several times per attempt). */
const ORIGIN = performance.timeOrigin;

function now(): number {
  return ORIGIN + performance.now();
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
  /** id, startedAt, endedAt, output length or `-1 - error index`, per ended attempt. */
  #ended: number[] = [];
  #outputs = "";
  #errors: PlainError[] = [];
  /** Continuations dropped unstarted since the last report. */
  #dropped: number[] = [];
  readonly #chains = new Continuations();
  readonly #controllers = new Map<number, AbortController>();
  /** Secret values substituted into a job's params, hidden from everything it reports. */
  readonly #secrets = new Map<number, string[]>();
  readonly #logCount = new Map<number, number>();
  #current: Current | undefined;
  /** `ctx.log` of every attempt calls this (one function, not one per attempt). */
  readonly #logOf = (id: number, message: string) => this.#log(id, message);
  /** When the event loop last had a turn while the pump ran. */
  #lastTurn = 0;
  /** When the last report was sent. */
  #lastReport = 0;
  /** A continuation started since the last report (see `chain` in `protocol.ts`). */
  #chainReport = false;

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
      const sources = JSON.parse(msg.sources) as WorkflowSource[];
      for (const j of parseJobs(msg.jobs, msg.lengths, (id, err) => this.#invalid(id, err))) {
        j.source = sources[j.s];
        if (j.link || j.after !== undefined) {
          const fate = this.#chains.admit(j as JobRequest);
          if (fate === "wait") continue;
          if (fate === "drop") {
            this.#drop([j.id]);
            continue;
          }
        }
        this.#queue.push(j as JobRequest);
      }
      if (!this.#running) this.#pump();
    } else if (msg.type === "abort") {
      this.#controllers.get(msg.id)?.abort(new DOMException(msg.reason, "AbortError"));
      this.#drop(this.#chains.abort(msg.id));
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
    this.#lastTurn = now();
    try {
      while (this.#head < this.#queue.length) {
        const job = this.#queue[this.#head];
        this.#queue[this.#head++] = undefined as unknown as JobRequest;
        if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue.splice(0, this.#head);
          this.#head = 0;
        }
        if (job.after !== undefined) {
          let go = this.#mayStart(job);
          if (typeof go !== "boolean") go = await go;
          if (!go) continue;
        }
        let wf = this.#loader.cached(job.source);
        if (!wf) {
          try {
            this.#flush();
            wf = await this.#loader.load(job.source);
          } catch (err) {
            const at = now();
            this.#finishFailed(job.id, toPlainError(err), at, at);
            continue;
          }
        }
        const pending = this.#runOne(wf, job);
        if (pending) {
          // Report what finished before waiting, so fast results never wait on a slow one.
          this.#flush();
          let abandon!: () => void;
          const abandoned = new Promise<void>((r) => abandon = r);
          this.#current = { job, name: wf.name, startedAt: now(), abandon };
          await Promise.race([pending, abandoned]);
          this.#current = undefined;
          this.#lastTurn = now();
        }
      }
    } finally {
      this.#running = false;
      this.#flush();
    }
  }

  /**
   * Before a continuation starts: reports what ended when enough did or time passed, and,
   * when the event loop had no turn for {@link YIELD_EVERY_MS}, lets pending messages
   * (aborts) in first.
   * @returns false when it was aborted meanwhile (it is dropped, with what follows it).
   */
  #mayStart(job: JobRequest): boolean | Promise<boolean> {
    const t = now();
    if (this.#ended.length >= 4 * CHAIN_REPORT_ENDS || t - this.#lastReport >= CHAIN_REPORT_MS) {
      this.#flush();
    }
    if (t - this.#lastTurn >= YIELD_EVERY_MS) {
      this.#flush();
      return new Promise((r) => setTimeout(r, 0)).then(() => {
        this.#lastTurn = now();
        return this.#clearToStart(job);
      });
    }
    return this.#clearToStart(job);
  }

  /** A continuation may start unless an abort for it arrived. */
  #clearToStart(job: JobRequest): boolean {
    if (!this.#chains.start(job.id)) {
      this.#drop([job.id, ...this.#chains.failed(job.id)]);
      return false;
    }
    this.#chainReport = true;
    return true;
  }

  /** Reports continuations dropped unstarted. */
  #drop(ids: number[]): void {
    if (!ids.length) return;
    for (const id of ids) this.#dropped.push(id);
    this.#scheduleFlush();
  }

  /** Runs a continuation next, before anything else queued. */
  #runNext(job: JobRequest): void {
    if (this.#head > 0) this.#queue[--this.#head] = job;
    else this.#queue.unshift(job);
  }

  /** Fails a job whose text did not parse (it embeds an upstream output that is not JSON). */
  #invalid(id: number, err: unknown): void {
    const at = now();
    this.#finishFailed(id, toPlainError(err), at, at);
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
    this.#current = { job, name: wf.name, startedAt, abandon() {} };
    try {
      out = wf.run(this.#params(job), ctx);
      if (!isThenable(out)) {
        this.#succeed(job, wf.name, startedAt, out);
        return;
      }
    } catch (err) {
      this.#fail(job, startedAt, err, wf.name);
      return;
    } finally {
      this.#inSync = false;
      this.#current = undefined;
    }
    if (job.timeoutMs === undefined) {
      this.#started.push({ id: job.id, at: startedAt });
      this.#scheduleFlush();
    }
    return Promise.resolve(out).then(
      (v) => this.#succeed(job, wf.name, startedAt, v),
      (err) => this.#fail(job, startedAt, err, wf.name),
    );
  }

  /** Own params with `${env:NAME}` resolved (env access as declared), merged with upstream. */
  #params(job: JobRequest): JsonObject {
    // The main thread flags jobs whose params' JSON text mentions `${env:`.
    if (!job.refs) return jobParams(job);
    const own = resolveSecrets(job.params, (k) => Deno.env.get(k));
    const run = job.runParams ? resolveSecrets(job.runParams, (k) => Deno.env.get(k)) : undefined;
    const secrets = [...own.secrets, ...(run?.secrets ?? [])];
    if (secrets.length) this.#secrets.set(job.id, secrets);
    return jobParams({ ...job, params: own.params, runParams: run?.params });
  }

  /**
   * Fails the attempt being awaited because of an error thrown outside it (an uncaught
   * exception or rejection in the worker). The pump moves on to the next job.
   * @param err What was thrown.
   * @returns Whether an attempt was failed.
   */
  failCurrent(err: unknown): boolean {
    const c = this.#current;
    if (!c) return false;
    this.#current = undefined;
    const e = toPlainError(err);
    this.#fail(
      c.job,
      c.startedAt,
      { name: e.name, message: `Uncaught in workflow: ${e.message}` },
      c.name,
    );
    c.abandon();
    return true;
  }

  /**
   * Records a console line written by a workflow as a log line of the running attempt.
   * @param message The text.
   */
  console(message: string): void {
    const c = this.#current;
    if (c) this.#log(c.job.id, message);
  }

  #log(id: number, message: string): void {
    const n = (this.#logCount.get(id) ?? 0) + 1;
    this.#logCount.set(id, n);
    if (n > MAX_LOG_LINES + 1) return;
    let text = n > MAX_LOG_LINES ? `(more log lines dropped after ${MAX_LOG_LINES})` : message;
    if (text.length > MAX_LOG_CHARS) text = text.slice(0, MAX_LOG_CHARS) + "... (truncated)";
    const secrets = this.#secrets.get(id);
    this.#logs.push({ id, at: now(), message: secrets ? redact(text, secrets) : text });
    this.#scheduleFlush();
  }

  #context(job: JobRequest): TaskContext {
    return new JobContext(job, this.#controllers, this.#logOf);
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
      this.#finishFailed(job.id, error, startedAt, endedAt);
    } else {
      const secrets = this.#secrets.get(job.id);
      if (secrets) outputJson = redactJson(outputJson!, secrets);
      this.#forget(job.id);
      this.#ended.push(job.id, startedAt, endedAt, outputJson!.length);
      this.#outputs += outputJson!;
      if (job.link || job.after !== undefined) {
        const next = this.#chains.succeeded(job, outputJson!);
        if (next) this.#runNext(next);
      }
      this.#afterFinish();
    }
  }

  #fail(job: JobRequest, startedAt: number, err: unknown, name?: string): void {
    const e = toPlainError(err);
    let message = name ? explainDenial(name, e.message) : e.message;
    const secrets = this.#secrets.get(job.id);
    if (secrets) message = redact(message, secrets);
    this.#finishFailed(job.id, { name: e.name, message }, startedAt, now());
  }

  #finishFailed(id: number, error: PlainError, startedAt: number, endedAt: number): void {
    this.#forget(id);
    this.#ended.push(id, startedAt, endedAt, -1 - this.#errors.length);
    this.#errors.push(error);
    this.#drop(this.#chains.failed(id));
    this.#afterFinish();
  }

  #forget(id: number): void {
    this.#controllers.delete(id);
    this.#secrets.delete(id);
    this.#logCount.delete(id);
  }

  #afterFinish(): void {
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
    if (
      !this.#started.length && !this.#logs.length && !this.#ended.length && !this.#dropped.length
    ) return;
    const msg: FromWorker = {
      type: "report",
      started: this.#started,
      logs: this.#logs,
      ended: this.#ended,
      outputs: this.#outputs,
      errors: this.#errors,
    };
    if (this.#dropped.length) {
      msg.dropped = this.#dropped;
      this.#dropped = [];
    }
    if (this.#chainReport) {
      msg.chain = true;
      this.#chainReport = false;
    }
    this.#lastReport = now();
    this.#started = [];
    this.#logs = [];
    this.#ended = [];
    this.#outputs = "";
    this.#errors = [];
    this.#post(msg);
  }
}

/**
 * The `ctx` of one attempt. A class rather than an object literal: a literal with a getter
 * is built on V8's slow path, about 2.5 us per attempt (measured; 0.1-0.6 us as a class).
 * `log` is an own property, so `const { log } = ctx` works; `signal` is created on first
 * access (an AbortController per attempt would cost more than the rest).
 */
class JobContext implements TaskContext {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly log: (message: string) => void;
  readonly #id: number;
  readonly #controllers: Map<number, AbortController>;

  constructor(
    job: JobRequest,
    controllers: Map<number, AbortController>,
    logOf: (id: number, message: string) => void,
  ) {
    const id = job.id;
    this.runId = job.runId;
    this.taskId = job.taskId;
    this.attempt = job.attempt;
    this.#id = id;
    this.#controllers = controllers;
    this.log = (message) => logOf(id, String(message));
  }

  get signal(): AbortSignal {
    let c = this.#controllers.get(this.#id);
    if (!c) this.#controllers.set(this.#id, c = new AbortController());
    return c.signal;
  }
}

/**
 * The jobs of a batch: the whole text parsed at once, or, when that fails, job by job,
 * reporting each job that does not parse.
 */
function parseJobs(
  text: string,
  lengths: readonly number[],
  invalid: (id: number, err: unknown) => void,
): WireJob[] {
  try {
    return JSON.parse(text) as WireJob[];
  } catch {
    const jobs: WireJob[] = [];
    let off = 1;
    for (const len of lengths) {
      const one = text.slice(off, off + len);
      off += len + 1;
      try {
        jobs.push(JSON.parse(one) as WireJob);
      } catch (err) {
        // Each job's text starts with `{"id":<id>,`.
        const id = Number(/^\{"id":(\d+),/.exec(one)?.[1]);
        if (id) invalid(id, err);
      }
    }
    return jobs;
  }
}

/** The first upstream task of the last job merged in this worker. */
let lastUpstream: string | undefined;

/**
 * The params a job's workflow receives: own params, upstream outputs, run params. A job
 * whose first upstream differs from the last job's (a chain, a layered DAG) gets them as a
 * dictionary-mode object; jobs of a fan share their upstream and its names' hidden classes
 * (measured: 10,000 merges with new names 33-47 -> 26-40 ms this way, with one shared
 * name 9-16 ms as ordinary objects against 15-33 as dictionaries).
 */
function jobParams(job: JobRequest): JsonObject {
  const { upstream, runParams } = job;
  if (!upstream?.length && !runParams) return job.params;
  const first = upstream?.[0]?.[0];
  const dictionary = first !== undefined && first !== lastUpstream;
  if (first !== undefined) lastUpstream = first;
  return mergePayload(job.params, upstream ?? [], runParams, { dictionary });
}

/**
 * Hides secret values in an output's JSON text. Outputs are embedded as JSON in the
 * batches sent to dependants' workers and in event lines, so the result must stay valid
 * JSON: when replacing in the text breaks it (a secret that is also part of a number,
 * a keyword or the JSON syntax), the values and keys of the object are redacted instead.
 */
function redactJson(json: string, secrets: readonly string[]): string {
  const text = redact(json, secrets);
  if (text === json) return text;
  try {
    JSON.parse(text);
    return text;
  } catch {
    return JSON.stringify(redactValue(JSON.parse(json), secrets));
  }
}

function redactValue(v: unknown, secrets: readonly string[]): unknown {
  if (typeof v === "string") return redact(v, secrets);
  if (Array.isArray(v)) return v.map((x) => redactValue(x, secrets));
  if (v && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[redact(k, secrets)] = redactValue(x, secrets);
    return o;
  }
  return v;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") &&
    typeof (v as { then?: unknown }).then === "function";
}
