/**
 * The PostgreSQL store backend (phase 1: not yet wired into the executor and the
 * scheduler): store config parsing, connections, versioned migrations, the state store
 * and the event log with the JSONL contract, and leader election with fencing.
 * @module
 */
export {
  type JsonlStoreConfig,
  parseStoreConfig,
  type PostgresStoreConfig,
  redactUrl,
  resolveStoreConfig,
  type StoreConfig,
} from "./config.ts";
export {
  type ConnectOptions,
  connectPostgres,
  pingPostgres,
  type ReservedSql,
  type Sql,
  type TransactionSql,
} from "./connect.ts";
export {
  FencedError,
  MigrationError,
  ScheduleMinuteConflictError,
  StoreConfigError,
  StoreUnavailableError,
} from "./errors.ts";
export type { EventLogLike, StateStoreLike } from "../store.ts";
export { type Migration, MIGRATIONS } from "./migrations.ts";
export {
  type AppliedMigration,
  migrate,
  type MigrateOptions,
  type MigrationStatus,
  migrationStatus,
} from "./migrate.ts";
export { PostgresStateStore, type PostgresStateStoreOptions } from "./state_store.ts";
export { PostgresEventLog } from "./event_log.ts";
export { LeaderElection, type LeaderElectionOptions } from "./leader.ts";
export { checkEpoch, type Fence } from "./_fence.ts";
