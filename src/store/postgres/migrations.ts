import { MIGRATION_V3 } from "./migrations_v3.ts";
import { MIGRATION_V4 } from "./migrations_v4.ts";
import { MIGRATION_V5 } from "./migrations_v5.ts";
import { MIGRATION_V6 } from "./migrations_v6.ts";
import { perSchemaChannels } from "./migrations_channels.ts";

/**
 * The versioned schema of the PostgreSQL store. Append new versions; never edit one
 * that has shipped (a database records which versions it applied, not their text).
 * Each runs in its own transaction, in the connection's schema (`search_path`).
 */
export interface Migration {
  /** 1, 2, 3, … in order. */
  readonly version: number;
  /** Short description, shown by `orch db status`. */
  readonly name: string;
  /** Statements, run in order inside one transaction. */
  readonly statements: readonly string[];
}

/** Migrations 1 to 6. */
const SHIPPED: readonly Migration[] = [
  {
    version: 1,
    name: "events, state events, schedule-minutes, watermarks, runs, task queue, leader",
    statements: [
      // Task-level events (the EventLog of ORCH_EVENTS_PATH); body is the whole line.
      `create table events (
        id bigserial primary key,
        run_id text,
        event text not null,
        ts timestamptz not null,
        body jsonb not null
      )`,
      `create index events_run_id_idx on events (run_id, id)`,
      `create index events_ts_idx on events (ts)`,
      // Scheduler and run events (the StateStore of STATE_STORE_PATH).
      `create table state_events (
        id bigserial primary key,
        event text not null,
        ts timestamptz not null,
        schedule_id text,
        run_id text,
        body jsonb not null
      )`,
      `create index state_events_schedule_id_idx on state_events (schedule_id, id)
        where schedule_id is not null`,
      `create index state_events_run_id_idx on state_events (run_id, id) where run_id is not null`,
      // Exactly-once: one row per decided schedule-minute, whoever decided it.
      `create table schedule_minutes (
        schedule_id text not null,
        minute_utc timestamptz not null,
        kind text not null check (kind in ('enqueued', 'skipped')),
        state_event_id bigint not null references state_events (id),
        body jsonb not null,
        unique (schedule_id, minute_utc)
      )`,
      `create index schedule_minutes_minute_idx on schedule_minutes (minute_utc)`,
      `create table watermarks (
        schedule_id text primary key,
        last_tick timestamptz not null,
        updated timestamptz not null default now()
      )`,
      `create table runs (
        run_id text primary key,
        dag_name text not null,
        dag_file text,
        schedule_id text,
        minute_utc timestamptz,
        tenant_id text,
        trigger text,
        retry_of text,
        status text not null default 'queued' check (status in
          ('queued', 'running', 'success', 'failed', 'cancelled', 'interrupted')),
        started timestamptz,
        finished timestamptz,
        host text,
        pid integer,
        heartbeat timestamptz,
        leader_epoch bigint,
        body jsonb not null default '{}'
      )`,
      `create index runs_unfinished_idx on runs (status) where status in ('queued', 'running')`,
      `create index runs_started_idx on runs (started desc)`,
      // Distributed execution (later phases): claimed with FOR UPDATE SKIP LOCKED.
      `create table task_queue (
        id bigserial primary key,
        run_id text not null references runs (run_id) on delete cascade,
        task_id text not null,
        attempt integer not null default 1,
        state text not null default 'queued'
          check (state in ('queued', 'running', 'done', 'failed')),
        payload jsonb not null default '{}',
        output jsonb,
        error jsonb,
        not_before timestamptz,
        claimed_by text,
        claimed_at timestamptz,
        heartbeat timestamptz,
        created timestamptz not null default now(),
        unique (run_id, task_id, attempt)
      )`,
      // Without it every claim walks past the finished rows (postgres-facts §3).
      `create index task_queue_queued_idx on task_queue (id) where state = 'queued'`,
      `create index task_queue_running_idx on task_queue (heartbeat) where state = 'running'`,
      // One row per leadership name; epoch is the fencing token.
      `create table leader (
        name text primary key,
        epoch bigint not null default 0,
        holder text,
        acquired timestamptz,
        heartbeat timestamptz
      )`,
    ],
  },
  {
    version: 2,
    name: "cluster runs: run_tasks, run_edges, readiness decided in the database",
    statements: [
      // A run driven by the cluster (mode 'cluster'): its tasks count down to 0.
      `alter table runs add column mode text not null default 'local'
        check (mode in ('local', 'cluster'))`,
      `alter table runs add column remaining integer`,
      `alter table runs add column spec jsonb`,
      // One row per task of a cluster run; readiness is `waiting` reaching 0.
      `create table run_tasks (
        run_id text not null references runs (run_id) on delete cascade,
        idx integer not null,
        task_id text not null,
        state text not null default 'pending' check (state in
          ('pending', 'queued', 'running', 'success', 'failed', 'skipped')),
        waiting integer not null,
        attempts integer not null default 0,
        spec jsonb not null,
        output jsonb,
        error text,
        reused_from text,
        started timestamptz,
        finished timestamptz,
        primary key (run_id, idx)
      )`,
      // pos: the upstream's place in the dependant's depends_on (payload order).
      `create table run_edges (
        run_id text not null references runs (run_id) on delete cascade,
        up_idx integer not null,
        down_idx integer not null,
        pos integer not null,
        primary key (run_id, up_idx, down_idx)
      )`,
      `create index run_edges_down_idx on run_edges (run_id, down_idx, pos)`,
      `alter table task_queue add column idx integer`,
      // The claiming worker's own bound: a silent attempt is lost after it, whatever the
      // reaper's configuration.
      `alter table task_queue add column lost_after_ms integer`,
      `create index task_queue_run_idx on task_queue (run_id, state)`,
    ],
  },
  MIGRATION_V3,
  MIGRATION_V4,
  MIGRATION_V5,
  MIGRATION_V6,
];

/** Every migration, oldest first. */
export const MIGRATIONS: readonly Migration[] = [...SHIPPED, perSchemaChannels(7, SHIPPED)];
