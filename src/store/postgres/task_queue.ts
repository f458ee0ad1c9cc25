import type { PlainError } from "../../lib/errors.ts";
import type { Job, JobHooks, JobOutcome, TaskPool } from "../../pool/task_pool.ts";
import type { WorkflowSource } from "../../workflows/registry.ts";
import type { JsonObject } from "../../workflows/types.ts";
import type { Sql } from "./connect.ts";

/** Channel a worker is woken on when attempts are queued. */
export const QUEUED_CHANNEL = "orch_task_queued";
/** Channel a submitter is woken on when attempts end (payload: the run id). */
export const DONE_CHANNEL = "orch_task_done";
/** Largest task output the queue stores, as JSON text in bytes (1 MiB). */
export const MAX_OUTPUT_BYTES = 1_048_576;

/** What a worker stores in `task_queue.error` when an attempt did not succeed. */
export interface StoredFailure {
  error: PlainError;
  timedOut?: boolean;
  cancelled?: boolean;
}

interface Waiter {
  resolve(outcome: JobOutcome): void;
  hooks?: JobHooks;
}

/**
 * The submitter's side of distributed execution: a {@link TaskPool} whose attempts are
 * rows of `task_queue`, run by `orch worker` processes on any host. The executor is the
 * local one, unchanged: it decides readiness, builds each attempt's payload (params,
 * upstream outputs, run params), retries and records events exactly as for a local
 * run; this pool only carries attempts to workers and their outcomes back.
 *
 * Enqueue is an INSERT plus `NOTIFY orch_task_queued` (one transaction). Outcomes are
 * found on `NOTIFY orch_task_done` and by polling every `pollMs` (a notification sent
 * while the listen connection reconnects is lost; the poll and a re-check on re-listen
 * cover it). `inspect` (validation) uses the local pool given.
 */
export class QueuePool implements TaskPool {
  readonly size: number;
  #sql: Sql;
  #local: TaskPool;
  #pending = new Map<string, Waiter>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #unlisten: (() => Promise<void>) | null = null;
  #checking: Promise<void> | null = null;
  #again = false;

  /**
   * @param sql A client on the store's schema (not ended by this pool).
   * @param options The local pool (for `inspect`), the number of attempts in flight the
   *   executor may keep (default 64), and the poll interval (default 1000 ms).
   */
  constructor(sql: Sql, options: { local: TaskPool; size?: number; pollMs?: number }) {
    this.#sql = sql;
    this.#local = options.local;
    this.size = options.size ?? 64;
    this.#timer = setInterval(() => this.#check(), options.pollMs ?? 1000);
  }

  /** Starts listening for finished attempts. */
  async open(): Promise<void> {
    const sub = await this.#sql.listen(DONE_CHANNEL, () => this.#check(), () => this.#check());
    this.#unlisten = () => sub.unlisten();
  }

  /**
   * Queues an attempt for the workers.
   * @param job The attempt, as the executor built it (JSON).
   * @param hooks `onStart` is called with the worker's start time when the outcome arrives.
   * @returns How it ended; never rejects (a database error is a failed attempt).
   */
  async run(job: Job, hooks?: JobHooks): Promise<JobOutcome> {
    const now = Date.now();
    try {
      const [{ id }] = await this.#sql.begin(async (sql) => {
        const rows = await sql<{ id: string }[]>`
          insert into task_queue (run_id, task_id, attempt, payload)
          values (${job.runId}, ${job.taskId}, ${job.attempt}, ${sql.json(job as never)})
          returning id`;
        await sql`select pg_notify(${QUEUED_CHANNEL}, ${job.runId})`;
        return rows;
      });
      return await new Promise<JobOutcome>((resolve) => this.#pending.set(id, { resolve, hooks }));
    } catch (err) {
      const error = { name: "QueueError", message: `Cannot queue the attempt: ${String(err)}` };
      return { ok: false, error, startedAt: now, endedAt: Date.now() };
    }
  }

  /**
   * Validates workflows in the local pool (the submitter checks the DAG before queuing).
   * @param requests Sources and param sets.
   * @returns One info per source.
   */
  inspect(requests: { source: WorkflowSource; paramSets: JsonObject[] }[]) {
    return this.#local.inspect(requests);
  }

  /**
   * Cancels the run's attempts that no worker claimed yet (running ones finish).
   * @param runId The run.
   * @param reason Recorded as the attempts' error.
   */
  cancelRun(runId: string, reason: string): void {
    const failure: StoredFailure = {
      error: { name: "CancelledError", message: reason },
      cancelled: true,
    };
    this.#sql`update task_queue set state = 'failed', error = ${this.#sql.json(failure as never)},
        claimed_at = now(), heartbeat = now()
      where run_id = ${runId} and state = 'queued'
      returning id`.then(() => this.#check(), () => {});
  }

  /** Stops polling and listening (attempts still pending never resolve). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#unlisten?.().catch(() => {});
    await this.#checking;
  }

  /** Resolves every pending attempt that ended; one query at a time. */
  #check(): void {
    if (this.#pending.size === 0) return;
    if (this.#checking) {
      this.#again = true;
      return;
    }
    this.#checking = this.#collect().catch(() => {}).finally(() => {
      this.#checking = null;
      if (this.#again) {
        this.#again = false;
        this.#check();
      }
    });
  }

  async #collect(): Promise<void> {
    const ids = [...this.#pending.keys()];
    const rows = await this.#sql<{
      id: string;
      state: string;
      output: string | null;
      error: StoredFailure | null;
      started: Date;
      ended: Date;
    }[]>`
      select id, state, output::text as output, error, claimed_at as started, heartbeat as ended
      from task_queue where id = any(${ids}::bigint[]) and state in ('done', 'failed')`;
    for (const r of rows) {
      const w = this.#pending.get(r.id);
      if (!w) continue;
      this.#pending.delete(r.id);
      const startedAt = r.started.getTime();
      const endedAt = r.ended.getTime();
      w.hooks?.onStart?.(startedAt);
      if (r.state === "done") {
        const text = r.output ?? "{}";
        w.resolve({ ok: true, output: JSON.parse(text), outputJson: text, startedAt, endedAt });
      } else {
        const f = r.error ?? { error: { name: "Error", message: "The attempt failed" } };
        w.resolve({ ok: false, ...f, startedAt, endedAt });
      }
    }
  }
}
