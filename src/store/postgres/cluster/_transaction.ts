import type { Sql, TransactionSql } from "../connect.ts";

/**
 * Runs `fn` in a transaction whose `BEGIN` goes out with its first statements: unlike
 * `sql.begin`, which waits for `BEGIN` to answer, this saves a round trip on every
 * transaction. The connection is reserved for the transaction; statements sent on it
 * run in order. Commits when `fn` resolves; rolls back (and rethrows) when `fn` or any
 * statement fails.
 * @param sql The client.
 * @param fn The transaction's work.
 * @returns What `fn` returns.
 */
export async function pipelinedTransaction<T>(
  sql: Sql,
  fn: (tx: TransactionSql) => Promise<T>,
): Promise<T> {
  const conn = await sql.reserve();
  try {
    const begun = conn`begin`.execute();
    begun.catch(() => {}); // its failure fails every later statement, surfaced by `fn`
    try {
      const result = await fn(conn as unknown as TransactionSql);
      await begun;
      await conn`commit`;
      return result;
    } catch (err) {
      await conn`rollback`.catch(() => {});
      throw err;
    }
  } finally {
    conn.release();
  }
}
