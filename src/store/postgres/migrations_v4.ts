import type { Migration } from "./migrations.ts";
import { MIGRATION_V3 } from "./migrations_v3.ts";
import { patched } from "./_patched.ts";

const [CLAIM_V3, , COMPLETE_OK_V3] = MIGRATION_V3.statements;

/**
 * `orch_claim` as in migration 3, also returning `sources`: `{run_id: [source, …]}`
 * (`runs.sources`) for the runs of the attempts claimed, once per run instead of once
 * per attempt.
 */
const CLAIM = patched(CLAIM_V3, [
  ["create function orch_claim", "create or replace function orch_claim"],
  ["  v_due float8;\n", "  v_due float8;\n  v_runs text[];\n  v_sources json;\n"],
  [
    "order by q.id)\n    into v_claimed\n",
    "order by q.id), array_agg(distinct q.run_id)\n    into v_claimed, v_runs\n",
  ],
  [
    "  return json_build_object('claimed', coalesce(v_claimed, '[]'::json), 'due_ms', v_due);",
    `  if v_runs is not null then
    select json_object_agg(x.run_id, x.sources) into v_sources
    from runs x where x.run_id = any(v_runs) and x.sources is not null;
  end if;
  return json_build_object('claimed', coalesce(v_claimed, '[]'::json), 'due_ms', v_due,
    'sources', v_sources);`,
  ],
], 4);

/** `orch_complete_ok` as in migration 3, passing on the claim's `sources`. */
const COMPLETE_OK = patched(COMPLETE_OK_V3, [
  ["create function orch_complete_ok", "create or replace function orch_complete_ok"],
  [
    "return json_build_object('claimed', v_claim->'claimed', 'finished', '[]'::json);",
    "return json_build_object('claimed', v_claim->'claimed', 'finished', '[]'::json,\n      'sources', v_claim->'sources');",
  ],
  [
    "return json_build_object('claimed', v_claim->'claimed', 'finished', to_json(v_finished));",
    "return json_build_object('claimed', v_claim->'claimed', 'finished', to_json(v_finished),\n    'sources', v_claim->'sources');",
  ],
], 4);

/**
 * Version 4: a cluster run's workflow sources stored once (`runs.sources`, a JSON array
 * of the run's distinct sources; each `run_tasks.spec` names its own by `source_ix`)
 * instead of in every task's spec: a source with its sandbox permissions is most of a
 * task row (about 700 of 800 bytes), which every submit parsed, every update of the row
 * copied and every claim sent back, per task. The claim functions return each claimed
 * run's sources once. Runs submitted before keep `source` in their task specs.
 */
export const MIGRATION_V4: Migration = {
  version: 4,
  name: "cluster runs: workflow sources once per run (runs.sources)",
  statements: [`alter table runs add column sources jsonb`, CLAIM, COMPLETE_OK],
};
