import type { LivenessCheck, LivenessSubject, RunLiveness, RunLock } from "../store.ts";
import type { Sql } from "./connect.ts";

/** How often a running process refreshes the heartbeat of each run it holds. */
export const HEARTBEAT_MS = 2000;
/**
 * A run whose heartbeat is older than this (3 × {@link HEARTBEAT_MS}) is dead, on any
 * host. Times are the database server's (`now()`), so host clocks do not matter.
 */
export const DEAD_AFTER_MS = 3 * HEARTBEAT_MS;

/** Options of {@link PostgresRunLiveness}. */
export interface PostgresRunLivenessOptions {
  /** This machine, recorded with each heartbeat. */
  host: string;
  /** This process (default `Deno.pid`). */
  pid?: number;
  /** Heartbeat interval (default {@link HEARTBEAT_MS}). */
  heartbeatMs?: number;
  /** Bound after which a silent run is dead (default 3 × `heartbeatMs`). */
  deadAfterMs?: number;
}

/**
 * Liveness of the PostgreSQL backend: a held run has a row in `runs` whose `heartbeat`
 * this process refreshes every `heartbeatMs` (one UPDATE for all the runs it holds), with
 * its `host` and `pid`; release sets it to `-infinity`. A run is dead when its heartbeat
 * is older than `deadAfterMs`, or was released (without `run_finished`), or when its
 * process is on this host and gone (found at once, without waiting for the bound). With
 * no heartbeat at all (events written by something else, or an old import), a run of
 * this host is dead when its process is gone, and one of another host when its last
 * event is older than the bound.
 *
 * Concurrency: writes are not awaited by their callers (`release()` is synchronous), and
 * run on the pool's connections in any order. So that a process sees its own writes,
 * {@link isDead} first waits for the ones in flight (a tick right after a run released
 * its mark must see it released), and a heartbeat never revives a released mark (the
 * timer's batch may have been sent before the release and land after it).
 *
 * The client is borrowed; {@link PostgresRunLiveness.close} stops the timer and waits for
 * the writes in flight, and must run before the client ends.
 */
export class PostgresRunLiveness implements RunLiveness {
  #sql: Sql;
  #host: string;
  #pid: number;
  #heartbeatMs: number;
  #deadAfterMs: number;
  #held = new Set<string>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #pending = new Set<Promise<unknown>>();

  /**
   * @param sql A client on a migrated schema (not one that waits on the state lock).
   * @param options Host, pid and timings.
   */
  constructor(sql: Sql, options: PostgresRunLivenessOptions) {
    this.#sql = sql;
    this.#host = options.host;
    this.#pid = options.pid ?? Deno.pid;
    this.#heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
    this.#deadAfterMs = options.deadAfterMs ?? 3 * this.#heartbeatMs;
  }

  /** The bound after which a silent run is dead, in ms. */
  get deadAfterMs(): number {
    return this.#deadAfterMs;
  }

  /**
   * Upserts the run's row with this host, pid and a fresh heartbeat, and keeps it fresh.
   * @param runId The run.
   * @returns The mark; `release()` clears the heartbeat.
   */
  async acquire(runId: string): Promise<RunLock> {
    await this.#sql`
      insert into runs (run_id, dag_name, host, pid, heartbeat)
      values (${runId}, '', ${this.#host}, ${this.#pid}, now())
      on conflict (run_id) do update
        set host = excluded.host, pid = excluded.pid, heartbeat = now()`;
    this.#held.add(runId);
    this.#startTimer();
    let released = false;
    return {
      path: `postgres:runs/${runId}`,
      release: () => {
        if (released) return;
        released = true;
        this.#held.delete(runId);
        if (this.#held.size === 0) this.#stopTimer();
        this.#track(this.#sql`update runs set heartbeat = '-infinity' where run_id = ${runId}`);
      },
    };
  }

  /**
   * @param run The unfinished run.
   * @param check This host, `now` and the process check.
   * @returns Why it is dead, or `null` when it may be alive.
   */
  async isDead(run: LivenessSubject, check: LivenessCheck): Promise<string | null> {
    await this.#settled();
    const [found] = await this.#sql<{
      host: string | null;
      pid: number | null;
      age_ms: number | null;
      released: boolean;
      mode: string;
      beating: boolean;
    }[]>`select host, pid, heartbeat = '-infinity' as released, mode,
        heartbeat is not null as beating,
        case when isfinite(heartbeat)
          then (extract(epoch from (now() - heartbeat)) * 1000)::float8 end as age_ms
      from runs where run_id = ${run.runId}`;
    // A cluster run lives in the database (workers decide and end it, reaping each
    // other's lost attempts), not in the process that submitted it.
    if (found?.mode === "cluster") return null;
    const row = found?.beating ? found : undefined;
    const before = run.started ? "" : " before it started";
    if (!row) {
      if (run.host === check.host) {
        if (check.processMayBeAlive(run.pid, run.since)) return null;
        return `process ${run.pid} on "${run.host}" is gone${before}`;
      }
      const age = check.now.getTime() - run.since.getTime();
      if (age <= this.#deadAfterMs) return null;
      return `no heartbeat from process ${run.pid} on "${run.host}"${before} in ${
        seconds(age)
      } (bound ${seconds(this.#deadAfterMs)})`;
    }
    const who = `process ${row.pid} on "${row.host}"`;
    if (row.released) return `${who} stopped its heartbeat${before} without finishing the run`;
    if (row.age_ms !== null && row.age_ms > this.#deadAfterMs) {
      return `no heartbeat from ${who}${before} for ${seconds(row.age_ms)} (bound ${
        seconds(this.#deadAfterMs)
      })`;
    }
    if (row.host === check.host && row.pid !== null) {
      if (!check.processMayBeAlive(row.pid, run.since)) return `${who} is gone${before}`;
    }
    return null;
  }

  /**
   * Clears the heartbeat of a run recorded dead.
   * @param runId The run.
   */
  async forget(runId: string): Promise<void> {
    await this.#sql`update runs set heartbeat = '-infinity' where run_id = ${runId}`;
  }

  /**
   * Removes rows of runs that were marked but never recorded (a tick killed before its
   * commit): no heartbeat for longer than the bound and no state event.
   * @param options The run ids to keep.
   */
  async sweep(options: { now: Date; keep: ReadonlySet<string> }): Promise<void> {
    const keep = [...options.keep];
    await this.#sql`
      delete from runs r
      where r.status = 'queued'
        and (r.heartbeat is null
          or r.heartbeat < now() - make_interval(secs => ${this.#deadAfterMs / 1000}))
        and r.run_id <> all(${keep}::text[])
        and not exists (select 1 from state_events s where s.run_id = r.run_id)`;
  }

  /** Stops heartbeating and waits for the writes in flight. */
  async close(): Promise<void> {
    this.#stopTimer();
    this.#held.clear();
    await this.#settled();
  }

  /** Resolves once no write of this instance is in flight. */
  async #settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  #startTimer(): void {
    if (this.#timer !== null) return;
    const timer = setInterval(() => {
      const ids = [...this.#held];
      if (ids.length === 0) return;
      this.#track(this.#sql`update runs set heartbeat = now()
        where run_id = any(${ids}::text[]) and heartbeat <> '-infinity'`);
    }, this.#heartbeatMs);
    Deno.unrefTimer(timer as unknown as number);
    this.#timer = timer;
  }

  #stopTimer(): void {
    if (this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
  }

  #track(query: PromiseLike<unknown>): void {
    // A failed heartbeat is not fatal: a silent run is recovered by others after the bound.
    const p: Promise<unknown> = Promise.resolve(query).catch(() => {}).finally(() =>
      this.#pending.delete(p)
    );
    this.#pending.add(p);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
