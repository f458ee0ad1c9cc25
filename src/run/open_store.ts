import type { Paths } from "../config/config.ts";
import type { Clock } from "../lib/clock.ts";
import { EventLog } from "../store/event_log.ts";
import type { StoreConfig } from "../store/postgres/config.ts";
import { StateStore } from "../store/state_store.ts";
import type { EventLogLike, Store } from "../store/store.ts";
import { FileRunLiveness, hostName, runsDir } from "./liveness.ts";
import { JsonlTaskEvents } from "./run_tasks.ts";

/** The embedded default: the JSONL files of `Paths` and run lock files beside the state. */
export class JsonlStore implements Store {
  readonly kind = "jsonl" as const;
  readonly description: string;
  readonly state: StateStore;
  readonly taskEvents: JsonlTaskEvents;
  readonly liveness: FileRunLiveness;
  #eventsPath: string;

  /**
   * @param paths The state file and the event log.
   * @param options Clock of the state store.
   */
  constructor(paths: Pick<Paths, "statePath" | "eventsPath">, options: { clock?: Clock } = {}) {
    this.description = paths.statePath;
    this.#eventsPath = paths.eventsPath;
    this.state = new StateStore(paths.statePath, { clock: options.clock });
    this.taskEvents = new JsonlTaskEvents(paths.eventsPath);
    this.liveness = new FileRunLiveness(runsDir(paths.statePath));
  }

  /**
   * @param options `onError`, called once when a write fails.
   * @returns A writer to the event log file.
   */
  openEventLog(options: { onError?: (err: Error) => void } = {}): EventLogLike {
    return new EventLog(this.#eventsPath, options);
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** The JSONL files (used when the config is jsonl). */
  paths: Pick<Paths, "statePath" | "eventsPath">;
  clock?: Clock;
  /** PostgreSQL: apply pending migrations on first use (default true). */
  migrate?: boolean;
  /** PostgreSQL: heartbeat interval in ms (default 2000; dead after 3×). */
  heartbeatMs?: number;
  /** PostgreSQL: `application_name`. */
  applicationName?: string;
}

/**
 * Opens the backend a store config names.
 * @param config `jsonl` or a PostgreSQL URL, parsed.
 * @param options Paths, clock and PostgreSQL options.
 * @returns The store; `await store.close()` when done.
 * @throws {StoreUnavailableError} When PostgreSQL cannot be reached.
 * @throws {StoreSchemaError} When its schema cannot be brought up to date.
 */
export async function openStore(config: StoreConfig, options: OpenStoreOptions): Promise<Store> {
  if (config.kind === "jsonl") return new JsonlStore(options.paths, { clock: options.clock });
  // Loaded only when configured: the driver costs start-up time every JSONL user would pay.
  const { openPostgresStore } = await import("../store/postgres/store.ts");
  return await openPostgresStore(config, {
    clock: options.clock,
    migrate: options.migrate,
    applicationName: options.applicationName,
    liveness: { host: hostName(), heartbeatMs: options.heartbeatMs },
  });
}
