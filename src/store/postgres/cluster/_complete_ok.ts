import { EVENT_SCHEMA_VERSION } from "../../events.ts";
import { STATE_SCHEMA_VERSION } from "../../state_events.ts";
import type { EventText, RunTag } from "./_events.ts";
import type { Finished } from "./_finish.ts";
import { type OkEnd, taskOkText } from "./_settle.ts";
import { type ClaimedAttempt, type ClaimRow, type RunSources, toClaimed } from "./claim.ts";
import type { ClusterDb } from "./submit.ts";

/** A successful end of a claimed attempt, with its queue row and its run's fields. */
export interface OkAttempt {
  /** `task_queue.id`. */
  id: string;
  tag: RunTag;
  end: OkEnd;
}

/**
 * Records a batch of successful ends and claims the worker's next attempts with one
 * call of `orch_complete_ok` (migration 3): one statement, so one round trip and, with
 * autocommit, one transaction and one WAL flush (`synchronous_commit` as configured,
 * on by default). The function does what the pipelined transaction of
 * `completeAndClaim` does for successes, in the same lock order: queue rows only while
 * still `running` and claimed by `worker`, outputs, dependants made ready, `task_ok`
 * events (built here, as the local executor writes them), the claim, notifications,
 * the count-down and, at 0, the run's end (`dag_done`, `run_finished`).
 * @param db The cluster database.
 * @param attempts Successful ends, in queue id order.
 * @param options The worker's name, how many to claim, its lost bound, and events to
 *   insert before the ends (its `task_start` / `task_log` lines not yet stored).
 * @returns The runs that ended and the attempts claimed.
 */
export async function completeOk(
  db: ClusterDb,
  attempts: readonly OkAttempt[],
  options: { worker: string; claim: number; lostMs: number; before: readonly EventText[] },
): Promise<{ finished: Finished[]; claimed: ClaimedAttempt[] }> {
  const texts = attempts.map((a) => taskOkText(a.end, a.tag));
  const pre = options.before;
  const [{ r }] = await db.sql<
    { r: { claimed: ClaimRow[]; finished: Finished[]; sources?: RunSources } }[]
  >`
    select orch_complete_ok(${options.worker},
      ${attempts.map((a) => a.id)}::bigint[],
      ${attempts.map((a) => a.end.runId)}::text[],
      ${attempts.map((a) => a.end.idx)}::int[],
      ${jsonArray(attempts.map((a) => a.end.outputJson))}::text::jsonb,
      ${texts.map((t) => t.timestamp)}::text[],
      ${jsonArray(texts.map((t) => t.text))}::text::jsonb,
      ${options.claim}, ${options.lostMs}, ${db.schema},
      ${EVENT_SCHEMA_VERSION}, ${STATE_SCHEMA_VERSION},
      ${pre.map((e) => e.runId)}::text[], ${pre.map((e) => e.event)}::text[],
      ${pre.map((e) => e.timestamp)}::text[], ${
    jsonArray(pre.map((e) => e.text))
  }::text::jsonb) as r`;
  return { finished: r.finished, claimed: r.claimed.map((c) => toClaimed(c, r.sources)) };
}

/** JSON texts as one JSON array document (parsed once, never escaped as a `text[]`). */
function jsonArray(texts: readonly string[]): string {
  return `[${texts.join(",")}]`;
}
