import { type Config, loadConfig } from "../config/config.ts";
import { systemClock } from "../lib/clock.ts";
import { sleep } from "../lib/sleep.ts";
import { WorkerPool } from "../pool/worker_pool.ts";
import type { TaskPool } from "../pool/task_pool.ts";
import { openStore } from "../run/open_store.ts";
import { threadMemoryGuard } from "../run/thread_memory_guard.ts";
import { parseStoreConfig, type StoreConfig } from "../store/postgres/config.ts";
import type { EventLogLike, Store } from "../store/store.ts";
import { BUILTIN_WORKFLOWS } from "../workflows/builtin.gen.ts";
import { type SandboxOptions, WorkflowRegistry } from "../workflows/registry.ts";
import { baseReadRoots, sandboxProfile } from "../workflows/sandbox.ts";
import type { CliIo } from "./io.ts";

/**
 * What commands share: the config (read once), and lazily the workflow registry, the
 * worker pool, the store backend and its event log. `close()` releases whatever was
 * created (an open PostgreSQL pool would keep the process alive).
 */
export class AppContext {
  readonly io: CliIo;
  readonly config: Config;
  /** The backend: `--store` when given, else `ORCH_STORE`, else jsonl. */
  readonly storeConfig: StoreConfig;
  readonly clock = systemClock;
  readonly sleep = sleep;
  #registry?: Promise<WorkflowRegistry>;
  #pool?: TaskPool;
  #store?: Promise<Store>;
  #events?: Promise<EventLogLike>;
  readonly #logFailed = new AbortController();
  #command?: string;

  /**
   * @param io Streams and environment.
   * @param overrides A pool to use instead of a WorkerPool (tests, embedding), and the
   *   value of a global `--store` option, and the command (names the connections).
   * @throws {ConfigError} When the environment is invalid.
   * @throws {StoreConfigError} When `--store` or `ORCH_STORE` is invalid.
   */
  constructor(
    io: CliIo,
    overrides: { pool?: TaskPool; store?: string; command?: string } = {},
  ) {
    this.io = io;
    this.config = loadConfig(io.env, { cwd: io.cwd });
    this.storeConfig = overrides.store === undefined
      ? this.config.store
      : parseStoreConfig(overrides.store);
    this.#pool = overrides.pool;
    this.#command = overrides.command;
  }

  /**
   * The store backend, opened on first use (PostgreSQL: connected and migrated).
   * @returns The store.
   * @throws {StoreUnavailableError} When PostgreSQL cannot be reached.
   * @throws {StoreSchemaError} When its schema cannot be brought up to date.
   */
  store(): Promise<Store> {
    return this.#store ??= openStore(this.storeConfig, {
      paths: this.config.paths,
      clock: this.clock,
      applicationName: `orch ${this.#command ?? ""}`.trim(),
    });
  }

  /** @returns The registry of the workflows directory plus the built-ins. */
  registry(): Promise<WorkflowRegistry> {
    return this.#registry ??= WorkflowRegistry.scan(
      this.config.paths.workflowsDir,
      Object.keys(BUILTIN_WORKFLOWS),
      { sandbox: this.#sandbox() },
    );
  }

  /**
   * @param size Its size when this call creates it (`orch worker --concurrency`).
   * @returns The shared pool, sized by SCHED_MAX_PARALLEL unless `size` is given.
   */
  pool(size?: number): TaskPool {
    const sandbox = this.#sandbox();
    return this.#pool ??= new WorkerPool({
      size: size ?? this.config.maxParallel,
      defaultSandbox: sandbox && sandboxProfile(undefined, sandbox),
      ...threadMemoryGuard(this.config, (line) => this.io.stderr(line + "\n")),
    });
  }

  /** @returns The store's task-level event log (ORCH_EVENTS_PATH, or the `events` table). */
  events(): Promise<EventLogLike> {
    return this.#events ??= this.store().then((store) =>
      store.openEventLog({ onError: (err) => this.#logFailed.abort(err.message) })
    );
  }

  /**
   * Aborted when the event log cannot be written: runs whose facts can no longer be
   * recorded stop at once instead of running on unlogged.
   */
  get logFailed(): AbortSignal {
    return this.#logFailed.signal;
  }

  /** Least-privilege settings for plugin workers, unless ORCH_SANDBOX=off. */
  #sandbox(): SandboxOptions | undefined {
    if (!this.config.sandbox) return undefined;
    return { cwd: this.io.cwd, baseRead: baseReadRoots(this.config.paths.workflowsDir) };
  }

  /** Flushes logs, stops the pool and closes the store. */
  async close(): Promise<void> {
    try {
      const events = await this.#events?.catch(() => undefined);
      await events?.close();
    } finally {
      try {
        await this.#pool?.close();
      } finally {
        const store = await this.#store?.catch(() => undefined);
        await store?.close();
      }
    }
  }
}
