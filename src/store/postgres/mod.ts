/**
 * The PostgreSQL store backend: store config parsing, connections, versioned migrations,
 * the state store and the event log with the JSONL contract, run liveness by heartbeat,
 * the task-event reader, `PostgresStore` (all of it as one `Store`), leader election
 * with fencing, and distributed execution (cluster runs: submit, worker, reaper, follow,
 * cancel).
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
  StoreSchemaError,
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
export { PostgresTaskEvents } from "./task_events.ts";
export {
  DEAD_AFTER_MS,
  HEARTBEAT_MS,
  PostgresRunLiveness,
  type PostgresRunLivenessOptions,
} from "./liveness.ts";
export { openPostgresStore, type OpenPostgresStoreOptions, PostgresStore } from "./store.ts";
export { LeaderElection, type LeaderElectionOptions } from "./leader.ts";
export { checkEpoch, type Fence } from "./_fence.ts";
export {
  cancelClusterRun,
  type ClusterDb,
  ClusterWorker,
  type ClusterWorkerOptions,
  completeAttempts,
  followRun,
  MAX_OUTPUT_BYTES,
  reapLostAttempts,
  submitRun,
} from "./cluster/mod.ts";
