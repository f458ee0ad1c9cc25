import { isAbsolute, resolve } from "node:path";
import { getHeapStatistics } from "node:v8";
import { OrchestratorError } from "../lib/errors.ts";
import { parseStoreConfig, type StoreConfig } from "../store/postgres/config.ts";

/** Where orch reads and writes files. All absolute. */
export interface Paths {
  /** JSONL of task-level events (`ORCH_EVENTS_PATH`). */
  readonly eventsPath: string;
  /** JSONL of scheduler and run events (`STATE_STORE_PATH`). */
  readonly statePath: string;
  /** Directory of user workflow plugins (`WORKFLOWS_DIR`). */
  readonly workflowsDir: string;
}

/** Everything orch reads from the environment, read once. */
export interface Config {
  readonly paths: Paths;
  /** Pool size and the bound on concurrent runs (`SCHED_MAX_PARALLEL`). */
  readonly maxParallel: number;
  /** Scheduler tick interval in ms (`SCHED_TICK_MS`). */
  readonly tickMs: number;
  /** Run plugins with least privilege (`ORCH_SANDBOX`, default on; `off` inherits all). */
  readonly sandbox: boolean;
  /** Token that enables dashboard actions (`ORCH_DASHBOARD_TOKEN`); unset means read-only. */
  readonly dashboardToken?: string;
  /** How long a stopping scheduler lets running runs finish (`ORCH_SHUTDOWN_GRACE_MS`). */
  readonly shutdownGraceMs: number;
  /**
   * Distributed execution: a running attempt whose worker has not heartbeated for this
   * long is failed with reason `worker_lost` (`ORCH_WORKER_LOST_MS`, default 10000).
   */
  readonly workerLostMs: number;
  /** The store backend (`ORCH_STORE`): jsonl (absent, empty) or a PostgreSQL URL. */
  readonly store: StoreConfig;
  /**
   * Where `orch run` executes tasks (`ORCH_EXECUTION`): `local` (default, this process's
   * pool) or `distributed` (submitted to the cluster, run by `orch worker`s; needs a
   * PostgreSQL store).
   */
  readonly execution: "local" | "distributed";
  /**
   * RSS limit in MiB watched while workflows run in worker threads (`ORCH_MEMORY_LIMIT_MB`;
   * default 2/3 of the V8 heap limit; 0 turns the watchdog off).
   */
  readonly memoryLimitMb: number;
  /** Heap cap in MiB of the worker processes of quarantined workflows (`ORCH_QUARANTINE_MEMORY_MB`). */
  readonly quarantineMemoryMb: number;
}

/** Thrown when an environment variable has a value orch cannot use. */
export class ConfigError extends OrchestratorError {
  /** The variable's name. */
  readonly variable: string;
  /**
   * @param variable The variable's name.
   * @param message What is wrong with it.
   */
  constructor(variable: string, message: string) {
    super(message, { code: "config_invalid", exitCode: 2 });
    this.name = "ConfigError";
    this.variable = variable;
  }
}

function positiveInt(env: Record<string, string | undefined>, name: string, dflt: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new ConfigError(name, `Cannot read ${name}="${raw}": expected a whole number >= 1`);
  }
  return n;
}

/**
 * Builds the frozen {@link Config} from environment variables.
 * @param env The environment, e.g. `Deno.env.toObject()`.
 * @param options `cwd` against which relative paths resolve (default `Deno.cwd()`).
 * @returns The config.
 * @throws {ConfigError} When a numeric variable is not a positive whole number.
 * @throws {StoreConfigError} When `ORCH_STORE` is neither jsonl nor a usable URL.
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  options: { cwd?: string } = {},
): Config {
  const cwd = options.cwd ?? Deno.cwd();
  const path = (name: string, dflt: string) => {
    const raw = env[name]?.trim() || dflt;
    return isAbsolute(raw) ? raw : resolve(cwd, raw);
  };
  return Object.freeze({
    paths: Object.freeze({
      eventsPath: path("ORCH_EVENTS_PATH", "logs/orchestrator_events.jsonl"),
      statePath: path("STATE_STORE_PATH", "logs/orchestrator_state.jsonl"),
      workflowsDir: path("WORKFLOWS_DIR", "workflows"),
    }),
    maxParallel: positiveInt(env, "SCHED_MAX_PARALLEL", 3),
    tickMs: positiveInt(env, "SCHED_TICK_MS", 1000),
    dashboardToken: env.ORCH_DASHBOARD_TOKEN?.trim() || undefined,
    sandbox: sandboxSetting(env.ORCH_SANDBOX),
    shutdownGraceMs: positiveInt(env, "ORCH_SHUTDOWN_GRACE_MS", 10_000),
    workerLostMs: positiveInt(env, "ORCH_WORKER_LOST_MS", 10_000),
    store: Object.freeze(parseStoreConfig(env.ORCH_STORE)),
    execution: executionSetting(env.ORCH_EXECUTION),
    memoryLimitMb: memoryLimit(env.ORCH_MEMORY_LIMIT_MB),
    quarantineMemoryMb: positiveInt(env, "ORCH_QUARANTINE_MEMORY_MB", 512),
  });
}

/** Below this, orch's own RSS (100-170 MB) would trip the watchdog with any workflow. */
const MIN_MEMORY_LIMIT_MB = 256;

function memoryLimit(raw: string | undefined): number {
  const v = raw?.trim();
  if (!v) return defaultMemoryLimitMb();
  const n = Number(v);
  if (n === 0) return 0;
  if (!Number.isInteger(n) || n < MIN_MEMORY_LIMIT_MB) {
    throw new ConfigError(
      "ORCH_MEMORY_LIMIT_MB",
      `Cannot read ORCH_MEMORY_LIMIT_MB="${raw}": expected 0 (off) or a whole number >= ${MIN_MEMORY_LIMIT_MB}`,
    );
  }
  return n;
}

/**
 * 2/3 of the V8 heap limit (4 GiB on a 23 GB machine): one thread's isolate reaches that
 * limit only after the process's RSS passed this, so the watchdog acts first, with ~1 s of
 * headroom for a thread allocating ~1.2 GB/s (measured) that cannot be stopped.
 */
function defaultMemoryLimitMb(): number {
  return Math.floor(getHeapStatistics().heap_size_limit / 2 ** 20 * 2 / 3);
}

function executionSetting(raw: string | undefined): "local" | "distributed" {
  const v = raw?.trim().toLowerCase();
  if (!v || v === "local") return "local";
  if (v === "distributed") return "distributed";
  throw new ConfigError(
    "ORCH_EXECUTION",
    `Cannot read ORCH_EXECUTION="${raw}": expected local or distributed`,
  );
}

function sandboxSetting(raw: string | undefined): boolean {
  const v = raw?.trim().toLowerCase();
  if (!v || v === "on" || v === "1" || v === "true") return true;
  if (v === "off" || v === "0" || v === "false") return false;
  throw new ConfigError("ORCH_SANDBOX", `Cannot read ORCH_SANDBOX="${raw}": expected on or off`);
}
