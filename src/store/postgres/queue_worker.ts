import { toPlainError } from "../../lib/errors.ts";
import type { Job, JobOutcome, TaskPool } from "../../pool/task_pool.ts";
import type { Sql } from "./connect.ts";
import {
  DONE_CHANNEL,
  MAX_OUTPUT_BYTES,
  QUEUED_CHANNEL,
  type StoredFailure,
} from "./task_queue.ts";

/** Options of {@link QueueWorker}. */
export interface QueueWorkerOptions {
  /** Who claims, stored in `task_queue.claimed_by` (e.g. `host:pid`). */
  name: string;
  /** Poll interval in ms when no notification arrives (default 1000). */
  pollMs?: number;
  /** Heartbeat interval of claimed rows in ms (default 2000). */
  heartbeatMs?: number;
  /** Largest output stored, JSON text in bytes (default {@link MAX_OUTPUT_BYTES}). */
  maxOutputBytes?: number;
  /** Receives one line per problem. */
  onNotice?: (line: string) => void;
}

/** A claimed row of `task_queue`. */
interface Claimed {
  id: string;
  payload: Job;
}

/**
 * `orch worker`'s loop: claims queued attempts with `FOR UPDATE SKIP LOCKED` (as many
 * as the local pool has free slots, in one statement), runs each in the local
 * {@link TaskPool} exactly as a local run would (the payload is the executor's `Job`),
 * and stores the outcome (`done` with the output as jsonb, or `failed` with the error)
 * with `NOTIFY orch_task_done` in the same transaction. Woken by `NOTIFY
 * orch_task_queued`, with polling as the fallback and a re-scan whenever the listen
 * connection (re)connects. Claimed rows are heartbeated.
 *
 * An output larger than `maxOutputBytes` fails the attempt with `OutputTooLargeError`
 * (retries apply as for any failure).
 */
export class QueueWorker {
  #sql: Sql;
  #pool: TaskPool;
  #o: Required<Omit<QueueWorkerOptions, "onNotice">> & Pick<QueueWorkerOptions, "onNotice">;
  #running = new Set<string>();
  #wake: (() => void) | null = null;
  #woken = false;
  #done = 0;

  /**
   * @param sql A client on the store's schema (not ended by the worker).
   * @param pool The local pool; its `size` bounds the attempts claimed at once.
   * @param options Name, timings, output limit.
   */
  constructor(sql: Sql, pool: TaskPool, options: QueueWorkerOptions) {
    this.#sql = sql;
    this.#pool = pool;
    this.#o = {
      pollMs: 1000,
      heartbeatMs: 2000,
      maxOutputBytes: MAX_OUTPUT_BYTES,
      ...options,
    };
  }

  /** Attempts this worker finished so far. */
  get finished(): number {
    return this.#done;
  }

  /**
   * Claims and runs attempts until `stop` aborts, then waits for the running ones.
   * @param stop Ends the loop (SIGINT/SIGTERM).
   */
  async serve(stop: AbortSignal): Promise<void> {
    const sub = await this.#sql.listen(QUEUED_CHANNEL, () => this.#poke(), () => this.#poke());
    const beat = setInterval(() => this.#heartbeat(), this.#o.heartbeatMs);
    const onStop = () => this.#poke();
    stop.addEventListener("abort", onStop);
    try {
      while (!stop.aborted) {
        const free = this.#pool.size - this.#running.size;
        const claimed = free > 0 ? await this.#claim(free).catch((err) => this.#fail(err)) : [];
        for (const c of claimed) this.#start(c);
        if (claimed.length > 0 && claimed.length === free) continue;
        await this.#idle();
      }
    } finally {
      stop.removeEventListener("abort", onStop);
      clearInterval(beat);
      await sub.unlisten().catch(() => {});
      while (this.#running.size > 0) await this.#idle();
    }
  }

  async #claim(n: number): Promise<Claimed[]> {
    return await this.#sql<Claimed[]>`
      update task_queue set state = 'running', claimed_by = ${this.#o.name},
        claimed_at = now(), heartbeat = now()
      where id in (select id from task_queue where state = 'queued' order by id
        limit ${n} for update skip locked)
      returning id, payload`;
  }

  #start(c: Claimed): void {
    this.#running.add(c.id);
    this.#pool.run(c.payload)
      .then((outcome) => this.#complete(c, outcome))
      .catch((err) => this.#notice(`cannot store the outcome of ${label(c)}: ${err}`))
      .finally(() => {
        this.#running.delete(c.id);
        this.#done++;
        this.#poke();
      });
  }

  async #complete(c: Claimed, outcome: JobOutcome): Promise<void> {
    let failure: StoredFailure | null = null;
    let output: string | null = null;
    if (outcome.ok) {
      const bytes = new TextEncoder().encode(outcome.outputJson).length;
      if (bytes > this.#o.maxOutputBytes) {
        failure = {
          error: {
            name: "OutputTooLargeError",
            message:
              `Cannot store the output of task "${c.payload.taskId}" (run "${c.payload.runId}", attempt ${c.payload.attempt}): ${bytes} bytes is over the queue's limit of ${this.#o.maxOutputBytes} bytes`,
          },
        };
      } else output = outcome.outputJson;
    } else {
      failure = {
        error: outcome.error,
        ...(outcome.timedOut ? { timedOut: true } : {}),
        ...(outcome.cancelled ? { cancelled: true } : {}),
      };
    }
    await this.#sql.begin(async (sql) => {
      await sql`
        update task_queue set state = ${failure ? "failed" : "done"},
          output = ${output}::text::jsonb, error = ${failure ? sql.json(failure as never) : null},
          heartbeat = now()
        where id = ${c.id} and claimed_by = ${this.#o.name}`;
      await sql`select pg_notify(${DONE_CHANNEL}, ${c.payload.runId})`;
    });
  }

  #heartbeat(): void {
    if (this.#running.size === 0) return;
    const ids = [...this.#running];
    this.#sql`update task_queue set heartbeat = now()
      where id = any(${ids}::bigint[]) and state = 'running'`
      .catch((err) => this.#notice(`heartbeat failed: ${err}`));
  }

  #fail(err: unknown): Claimed[] {
    this.#notice(`claim failed: ${toPlainError(err).message}`);
    return [];
  }

  /** Waits for a notification, a finished attempt, a stop, or the poll interval. */
  async #idle(): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      timer = setTimeout(resolve, this.#o.pollMs);
    });
    clearTimeout(timer);
    this.#wake = null;
    this.#woken = false;
  }

  #poke(): void {
    if (this.#wake) this.#wake();
    else this.#woken = true;
  }

  #notice(line: string): void {
    this.#o.onNotice?.(line);
  }
}

function label(c: Claimed): string {
  return `task "${c.payload.taskId}" of run "${c.payload.runId}"`;
}
