import type { LostAttemptReaper } from "../../store/postgres/cluster/reaper.ts";
import type { LeaderElection } from "../../store/postgres/leader.ts";
import type { PostgresStore } from "../../store/postgres/store.ts";
import type { Store } from "../../store/store.ts";
import type { AppContext } from "../context.ts";

/**
 * The scheduler's reaper of lost workers' attempts (PostgreSQL only), so that no
 * distributed run is left `running` once every worker and its submitter are gone:
 * `--serve` reaps every half ORCH_WORKER_LOST_MS while it leads (`election`), `--once`
 * once per tick (`reapOnce()` before the tick).
 * @param ctx The app context.
 * @param backend The store.
 * @param options The leader election of `--serve`, and where notices go.
 * @returns The reaper, or null on JSONL (no cluster runs).
 */
export async function schedulerReaper(
  ctx: AppContext,
  backend: Store,
  options: { election: LeaderElection | null; notice: (line: string) => void },
): Promise<LostAttemptReaper | null> {
  if (backend.kind !== "postgres") return null;
  const { LostAttemptReaper } = await import("../../store/postgres/cluster/reaper.ts");
  const store = backend as PostgresStore;
  const { election } = options;
  return new LostAttemptReaper({ sql: store.sql, schema: store.config.schema }, {
    lostMs: ctx.config.workerLostMs,
    isActive: election ? () => election.isLeader() : undefined,
    onNotice: options.notice,
  });
}
