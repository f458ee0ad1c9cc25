import type { EventLogLike, Store } from "../store.ts";
import type { PostgresStoreConfig } from "./config.ts";
import { connectPostgres, pingPostgres, sessionName, type Sql } from "./connect.ts";
import { MigrationError, StoreSchemaError } from "./errors.ts";
import { PostgresEventLog } from "./event_log.ts";
import { PostgresRunLiveness, type PostgresRunLivenessOptions } from "./liveness.ts";
import { migrate, migrationStatus } from "./migrate.ts";
import { PostgresStateStore, type PostgresStateStoreOptions } from "./state_store.ts";
import { PostgresTaskEvents } from "./task_events.ts";
import type { Fence } from "./_fence.ts";

/** Options of {@link openPostgresStore}. */
export interface OpenPostgresStoreOptions {
  /** Stamps state events (default the system clock). */
  clock?: PostgresStateStoreOptions["clock"];
  /** Host and pid recorded with heartbeats, and the heartbeat timing. */
  liveness: PostgresRunLivenessOptions;
  /**
   * Apply pending migrations on first use (default true). With false, a schema that is
   * not up to date fails with {@link StoreSchemaError} naming `orch db migrate`.
   */
  migrate?: boolean;
  /** `application_name` of the connections (default `orch`). */
  applicationName?: string;
}

/**
 * The PostgreSQL backend as one {@link Store}: two clients, so that state transactions
 * waiting for the state lock can never starve the connections that a transaction holding
 * it needs for the event log, task reads and heartbeats (each pool would otherwise be
 * exhausted by the waiters). `close()` stops heartbeats and ends both clients.
 */
export class PostgresStore implements Store {
  readonly kind = "postgres" as const;
  readonly description: string;
  readonly state: PostgresStateStore;
  readonly taskEvents: PostgresTaskEvents;
  readonly liveness: PostgresRunLiveness;
  /** The client of state transactions. */
  readonly sql: Sql;
  /** The client of the event log, task reads and heartbeats. */
  readonly aux: Sql;
  /** The connection settings (a leader election opens its own session with them). */
  readonly config: PostgresStoreConfig;
  #clock: PostgresStateStoreOptions["clock"];

  /**
   * @param config The store config.
   * @param sql The state client.
   * @param aux The auxiliary client.
   * @param options Clock and liveness options.
   */
  constructor(
    config: PostgresStoreConfig,
    sql: Sql,
    aux: Sql,
    options: Pick<OpenPostgresStoreOptions, "clock" | "liveness">,
  ) {
    this.description = `${config.redacted} (schema ${config.schema})`;
    this.sql = sql;
    this.aux = aux;
    this.config = config;
    this.#clock = options.clock;
    this.state = new PostgresStateStore(sql, { schema: config.schema, clock: options.clock });
    this.taskEvents = new PostgresTaskEvents(aux);
    this.liveness = new PostgresRunLiveness(aux, options.liveness);
  }

  /**
   * @param options `onError`, called once when an insert fails.
   * @returns A writer to the `events` table.
   */
  openEventLog(options: { onError?: (err: Error) => void } = {}): EventLogLike {
    return new PostgresEventLog(this.aux, { onError: options.onError });
  }

  /**
   * The state store again, with every write checked against a leader epoch.
   * @param fence The leadership (e.g. a `LeaderElection`).
   * @returns A state store on the same client whose writes throw `FencedError` once
   *   `fence` is stale.
   */
  fenced(fence: Fence): PostgresStateStore {
    return new PostgresStateStore(this.sql, {
      schema: this.config.schema,
      clock: this.#clock,
      fence,
    });
  }

  /** Stops heartbeats and ends both clients. */
  async close(): Promise<void> {
    try {
      await this.liveness.close();
    } finally {
      await Promise.all([this.sql.end(), this.aux.end()]);
    }
  }
}

/**
 * Connects to the store, checks the server answers, brings the schema up to date (or
 * checks it is, with `migrate: false`) and returns the backend.
 * @param config The store config.
 * @param options Clock, liveness, migration policy.
 * @returns The open store; `await store.close()` when done.
 * @throws {StoreUnavailableError} When the server cannot be reached.
 * @throws {StoreSchemaError} When the schema is behind (and `migrate` is false), was
 *   migrated by a newer orch, or cannot be migrated by this user.
 */
export async function openPostgresStore(
  config: PostgresStoreConfig,
  options: OpenPostgresStoreOptions,
): Promise<PostgresStore> {
  const name = options.applicationName ?? "orch";
  const sql = connectPostgres(config, { applicationName: sessionName(name, config.schema) });
  const aux = connectPostgres(config, {
    applicationName: sessionName(`${name} aux`, config.schema),
    max: 2,
  });
  try {
    await pingPostgres(sql, config);
    await ensureSchema(sql, config, options.migrate ?? true);
  } catch (err) {
    await Promise.all([sql.end(), aux.end()]);
    throw err;
  }
  return new PostgresStore(config, sql, aux, options);
}

async function ensureSchema(sql: Sql, config: PostgresStoreConfig, apply: boolean): Promise<void> {
  const where = `${config.redacted} (schema ${config.schema})`;
  const status = await migrationStatus(sql, { schema: config.schema });
  if (status.unknown.length > 0) {
    throw new StoreSchemaError(
      `Cannot use the store ${where}: it has schema version ${
        status.unknown.join(", ")
      } from a newer orch`,
      "Upgrade this orch to the version that migrated the database",
    );
  }
  if (status.pending.length === 0) return;
  if (!apply) {
    throw new StoreSchemaError(
      `Cannot use the store ${where}: ${status.pending.length} migration(s) pending`,
      "Run 'orch db migrate' (with ORCH_STORE or --store set) first",
    );
  }
  try {
    await migrate(sql, { schema: config.schema });
  } catch (err) {
    if (!(err instanceof MigrationError)) throw err;
    throw new StoreSchemaError(
      `Cannot migrate the store ${where} on first use: ${err.message}`,
      "Run 'orch db migrate' as a user allowed to create tables in the schema",
      err,
    );
  }
}
