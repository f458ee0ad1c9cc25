/**
 * The dashboard: an HTTP app over the event log and the state store (the JSONL files or
 * the PostgreSQL store, through a `RunSource`). Pages, a JSON API
 * under `/api`, Server-Sent Events and Prometheus `/metrics`. Read-only unless a token
 * is configured. `createDashboard` gives a `fetch` handler for in-process tests;
 * `serveDashboard` serves it with `Deno.serve`.
 * @module
 */
export { createDashboard, type Dashboard, type DashboardOptions } from "./app.ts";
export {
  type DashboardServer,
  isLoopbackHost,
  serveDashboard,
  type ServeDashboardOptions,
} from "./serve.ts";
export { ActionDeniedError, HttpError, RunNotFoundError } from "./errors.ts";
export { type FollowerStats, type LineSink, LogFollower } from "./log_follower.ts";
export { RunIndex, type RunQuery } from "./run_index.ts";
export { RunStore } from "./run_store.ts";
export type { RunSink, RunSource, SourceStats } from "./run_source.ts";
export type { HistogramData, MetricValues } from "./metrics.ts";
export { DURATION_BUCKETS, LAG_BUCKETS } from "./_histogram.ts";
export { JsonlRunSource } from "./jsonl_source.ts";
export { layoutGraph } from "./graph_layout.ts";
export type * from "./types.ts";
