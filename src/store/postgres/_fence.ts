import type { Sql, TransactionSql } from "./connect.ts";
import { FencedError } from "./errors.ts";

/** What a fenced writer proves: the leadership it holds and its epoch (fencing token). */
export interface Fence {
  /** The leadership name (a row of the `leader` table). */
  readonly name: string;
  /** @returns The epoch this process holds, or null when it is not leader. */
  epoch(): number | null;
}

/**
 * Refuses a write from a stale leader. Reads the leader row `FOR SHARE`, so a new
 * leader's epoch increment waits until this transaction ends: a write that passes the
 * check commits before any newer leader starts.
 * @param sql The writing transaction.
 * @param fence The leadership and the writer's epoch.
 * @throws {FencedError} When the writer is not leader or the epoch has moved on.
 */
export async function checkEpoch(sql: Sql | TransactionSql, fence: Fence): Promise<void> {
  const held = fence.epoch();
  const [row] = await sql<{ epoch: string }[]>`
    select epoch from leader where name = ${fence.name} for share`;
  const current = row ? Number(row.epoch) : null;
  if (held === null || current !== held) throw new FencedError(fence.name, held, current);
}
