/**
 * orch as a library: load, plan and run DAGs of workflow plugins, and write plugins.
 *
 * @example
 * ```ts
 * import { defineWorkflow } from "./mod.ts";
 *
 * export default defineWorkflow({
 *   description: "Says hello",
 *   params: (z) => z.object({ name: z.string() }),
 *   run: (params) => ({ greeting: `Hello, ${params.name}` }),
 * });
 * ```
 * @module
 */
export {
  CycleDetectedError,
  type Dag,
  type DagIssue,
  DagValidationError,
  loadDag,
  parseDag,
  type TaskSpec,
} from "./src/dag/mod.ts";
export { buildPlan, findCycle, type Plan } from "./src/plan/mod.ts";
export {
  type EventSink,
  executeDag,
  type ExecuteOptions,
  listRuns,
  mergePayload,
  nextDelay,
  openStore,
  planRetry,
  type PreparedRun,
  prepareRun,
  recoverDeadRuns,
  runDag,
  type RunDagDeps,
  type RunDagOptions,
  RunNotFoundError,
  RunNotRetryableError,
  type RunResult,
  type RunRow,
  type TaskResult,
} from "./src/run/mod.ts";
export {
  loadSchedules,
  type Schedule,
  Scheduler,
  type SchedulerDeps,
  ScheduleValidationError,
} from "./src/schedule/mod.ts";
export {
  type FollowHandler,
  InlinePool,
  type Job,
  type JobOutcome,
  type TaskPool,
  WorkerPool,
} from "./src/pool/mod.ts";
export {
  BUILTIN_WORKFLOWS,
  defineWorkflow,
  type JsonObject,
  ParamsInvalidError,
  RunnerError,
  type TaskContext,
  UnknownWorkflowError,
  type Workflow,
  WorkflowLoadError,
  WorkflowRegistry,
  type WorkflowSource,
} from "./src/workflows/mod.ts";
export {
  EventLog,
  type EventLogLike,
  indexBy,
  lastRuns,
  LogWriteError,
  recordEvent,
  type RunLiveness,
  type Stamped,
  StateStore,
  type StateStoreCallOptions,
  type StateStoreLike,
  type StateStoreOptions,
  type StateTransaction,
  type Store,
  type StoreWarning,
  type TaskEventReader,
} from "./src/store/mod.ts";
export type * from "./src/store/events.ts";
export type * from "./src/store/state_events.ts";
export { type Config, loadConfig, type Paths } from "./src/config/mod.ts";
export {
  type Clock,
  ManualClock,
  newRunId,
  OrchestratorError,
  type Sleep,
  systemClock,
} from "./src/lib/mod.ts";
export { runCli } from "./src/cli/mod.ts";
