import { type Config, loadConfig } from "../config/config.ts";
import { systemClock } from "../lib/clock.ts";
import { sleep } from "../lib/sleep.ts";
import { WorkerPool } from "../pool/worker_pool.ts";
import type { TaskPool } from "../pool/task_pool.ts";
import { EventLog } from "../store/event_log.ts";
import { BUILTIN_WORKFLOWS } from "../workflows/builtin.gen.ts";
import { type SandboxOptions, WorkflowRegistry } from "../workflows/registry.ts";
import { baseReadRoots, sandboxProfile } from "../workflows/permissions.ts";
import type { CliIo } from "./io.ts";

/**
 * What commands share: the config (read once), and lazily the workflow registry, the
 * worker pool and the event log. `close()` releases whatever was created.
 */
export class AppContext {
  readonly io: CliIo;
  readonly config: Config;
  readonly clock = systemClock;
  readonly sleep = sleep;
  #registry?: Promise<WorkflowRegistry>;
  #pool?: TaskPool;
  #events?: EventLog;
  readonly #logFailed = new AbortController();

  /**
   * @param io Streams and environment.
   * @param overrides A pool to use instead of a WorkerPool (tests, embedding).
   */
  constructor(io: CliIo, overrides: { pool?: TaskPool } = {}) {
    this.io = io;
    this.config = loadConfig(io.env, { cwd: io.cwd });
    this.#pool = overrides.pool;
  }

  /** @returns The registry of the workflows directory plus the built-ins. */
  registry(): Promise<WorkflowRegistry> {
    return this.#registry ??= WorkflowRegistry.scan(
      this.config.paths.workflowsDir,
      Object.keys(BUILTIN_WORKFLOWS),
      { sandbox: this.#sandbox() },
    );
  }

  /** @returns The shared pool, sized by SCHED_MAX_PARALLEL. */
  pool(): TaskPool {
    const sandbox = this.#sandbox();
    return this.#pool ??= new WorkerPool({
      size: this.config.maxParallel,
      defaultSandbox: sandbox && sandboxProfile(undefined, sandbox),
    });
  }

  /** @returns The task-level event log at ORCH_EVENTS_PATH. */
  events(): EventLog {
    return this.#events ??= new EventLog(this.config.paths.eventsPath, {
      onError: (err) => this.#logFailed.abort(err.message),
    });
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

  /** Flushes logs and stops the pool. */
  async close(): Promise<void> {
    try {
      await this.#events?.close();
    } finally {
      await this.#pool?.close();
    }
  }
}
