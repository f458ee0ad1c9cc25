import type { Migration } from "./migrations.ts";

/**
 * Deletes a run's cluster rows with the run: what the foreign keys' `on delete cascade`
 * did before migration 5.
 */
const CASCADE = `create function orch_runs_cascade() returns trigger language plpgsql as $$
begin
  delete from run_tasks where run_id = old.run_id;
  delete from run_edges where run_id = old.run_id;
  delete from task_queue where run_id = old.run_id;
  return old;
end $$`;

/**
 * Version 5: `run_tasks`, `run_edges` and `task_queue` without their foreign keys to
 * `runs`. Every inserted row checked its key (a lookup and a `for key share` lock of the
 * run's row, which with several workers becomes a multixact): 30,000 checks in the
 * submit of a 10,000-task DAG (half of the `run_edges` insert's server time) and one per
 * enqueued attempt. The rows are only inserted in the transaction that inserts or reads
 * the run's row; a trigger on `runs` deletes them with the run, as the cascade did.
 */
export const MIGRATION_V5: Migration = {
  version: 5,
  name: "cluster tables: a delete trigger on runs instead of foreign keys",
  statements: [
    `alter table run_tasks drop constraint run_tasks_run_id_fkey`,
    `alter table run_edges drop constraint run_edges_run_id_fkey`,
    `alter table task_queue drop constraint task_queue_run_id_fkey`,
    CASCADE,
    `create trigger runs_cascade after delete on runs
      for each row execute function orch_runs_cascade()`,
  ],
};
