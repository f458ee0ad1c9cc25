import { hostname } from "node:os";
import { sleep } from "../../lib/sleep.ts";
import type { PostgresStoreConfig } from "./config.ts";
import { connectPostgres, lockName, type ReservedSql, type Sql } from "./connect.ts";
import type { Fence } from "./_fence.ts";

/** Options of {@link LeaderElection}. */
export interface LeaderElectionOptions {
  /** What is led, a row of the `leader` table (default `scheduler`). */
  name?: string;
  /** `application_name` of the session (default `orch leader`). */
  applicationName?: string;
  /** Who is asking, stored in the `leader` row (default `host:pid`). */
  holder?: string;
  /** How often a follower tries the lock, in ms (default 500; below `idle_session_timeout`). */
  pollMs?: number;
  /** How often the leader proves its session is alive, in ms (default 1000; same bound). */
  heartbeatMs?: number;
  /** A heartbeat slower than this, in ms, counts as a lost session (default 2000). */
  heartbeatTimeoutMs?: number;
  /** Called with the new epoch when this process becomes leader. */
  onAcquired?: (epoch: number) => void;
  /** Called once with the reason when this process stops being leader (not on `stop()`). */
  onLost?: (reason: string) => void;
}

/**
 * Leader election over `pg_try_advisory_lock` on a dedicated session (`sql.reserve()`
 * of a one-connection client this object creates and ends; never a pooled connection,
 * where a lock would outlive its user). The session is never used after its socket
 * closed (postgres.js would write to a closed reserved connection): a close is a loss. A follower polls the lock; on acquisition the leader
 * increments `leader.epoch`, the fencing token writers pass as a {@link Fence}. The
 * leader heartbeats on its session; a failed or slow heartbeat, or an epoch that moved
 * on, ends leadership (`onLost`) and drops the session, so the server frees the lock.
 *
 * Guarantees: at most one session holds the lock at a time. A process that is hung or
 * cut off may still believe it leads until its next heartbeat fails; by then the server
 * has ended its session (`idle_session_timeout`, TCP keepalives), and its writes are
 * refused by the epoch check. A SIGKILLed leader's lock is freed at once and a follower
 * takes over within one `pollMs`.
 */
export class LeaderElection implements Fence {
  /** The leadership name. */
  readonly name: string;
  #config: PostgresStoreConfig;
  #app: string;
  #closed = false;
  #key: string;
  #holder: string;
  #pollMs: number;
  #heartbeatMs: number;
  #timeoutMs: number;
  #onAcquired?: (epoch: number) => void;
  #onLost?: (reason: string) => void;
  #client: Sql | null = null;
  #session: ReservedSql | null = null;
  #epoch: number | null = null;
  #stop = new AbortController();
  #loop: Promise<void> | null = null;
  #waiters: ((epoch: number) => void)[] = [];

  /**
   * @param config The store (its schema scopes the lock); a new client is made for each session.
   * @param options Name, timings and callbacks.
   */
  constructor(config: PostgresStoreConfig, options: LeaderElectionOptions = {}) {
    this.name = options.name ?? "scheduler";
    this.#config = config;
    this.#app = options.applicationName ?? "orch leader";
    this.#key = lockName(config.schema, `leader:${this.name}`);
    this.#holder = options.holder ?? `${hostname()}:${Deno.pid}`;
    this.#pollMs = options.pollMs ?? 500;
    this.#heartbeatMs = options.heartbeatMs ?? 1000;
    this.#timeoutMs = options.heartbeatTimeoutMs ?? 2000;
    this.#onAcquired = options.onAcquired;
    this.#onLost = options.onLost;
  }

  /** @returns The epoch this process holds, or null when it is not leader. */
  epoch(): number | null {
    return this.#epoch;
  }

  /** @returns Whether this process believes it is leader (as of the last heartbeat). */
  isLeader(): boolean {
    return this.#epoch !== null;
  }

  /** Starts campaigning in the background; idempotent. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /**
   * Starts campaigning and waits until this process leads.
   * @returns The epoch.
   */
  waitForLeadership(): Promise<number> {
    this.start();
    if (this.#epoch !== null) return Promise.resolve(this.#epoch);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Stops campaigning, unlocks (if leader) and ends the client. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    this.#epoch = null;
    try {
      if (this.#session && !this.#closed) await this.#session`select pg_advisory_unlock_all()`;
    } catch { /* the session is gone, and the lock with it */ }
    await this.#drop();
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        if (this.#epoch === null) await this.#campaign();
        else await this.#heartbeat();
      } catch (err) {
        this.#lose(`session lost: ${err instanceof Error ? err.message : String(err)}`);
        await this.#drop();
      }
      try {
        await sleep(this.#epoch === null ? this.#pollMs : this.#heartbeatMs, signal);
      } catch {
        return;
      }
    }
  }

  async #campaign(): Promise<void> {
    if (!this.#session) {
      this.#closed = false;
      this.#client = connectPostgres(this.#config, {
        max: 1,
        dedicated: true,
        applicationName: this.#app,
        onClose: () => {
          this.#closed = true;
        },
      });
      this.#session = await this.#timed(this.#client.reserve());
    }
    const s = this.#open();
    const [{ ok }] = await this.#timed(
      s<{ ok: boolean }[]>`select pg_try_advisory_lock(hashtextextended(${this.#key}, 0)) as ok`,
    );
    if (!ok || this.#stop.signal.aborted) return;
    const [{ epoch }] = await this.#timed(s<{ epoch: string }[]>`
      insert into leader (name, epoch, holder, acquired, heartbeat)
      values (${this.name}, 1, ${this.#holder}, now(), now())
      on conflict (name) do update set epoch = leader.epoch + 1,
        holder = excluded.holder, acquired = now(), heartbeat = now()
      returning epoch`);
    this.#epoch = Number(epoch);
    this.#onAcquired?.(this.#epoch);
    for (const w of this.#waiters.splice(0)) w(this.#epoch);
  }

  async #heartbeat(): Promise<void> {
    const rows = await this.#timed(this.#open()`
      update leader set heartbeat = now() where name = ${this.name} and epoch = ${this.#epoch}
      returning epoch`);
    if (rows.length === 0) throw new Error(`epoch ${this.#epoch} is no longer current`);
  }

  /** @returns The session, unless its socket closed (then it must not be written to). */
  #open(): ReservedSql {
    if (!this.#session || this.#closed) throw new Error("the connection closed");
    return this.#session;
  }

  #lose(reason: string): void {
    if (this.#epoch === null) return;
    this.#epoch = null;
    this.#onLost?.(reason);
  }

  /** Ends the client without waiting for queries: closing the socket frees the lock. */
  async #drop(): Promise<void> {
    const client = this.#client;
    this.#client = null;
    this.#session = null;
    await client?.end({ timeout: 0 }).catch(() => {});
  }

  async #timed<T>(query: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
    });
    query.catch(() => {});
    try {
      return await Promise.race([query, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
