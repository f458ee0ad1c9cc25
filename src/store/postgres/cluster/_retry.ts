/** SQLSTATEs worth retrying a whole transaction for: deadlock, serialization failure. */
const RETRYABLE = new Set(["40P01", "40001"]);

/**
 * Runs a transaction again when the server aborted it for a deadlock or a
 * serialization failure (the transaction did nothing; running it again is safe).
 * @param fn Runs the whole transaction.
 * @param attempts Most tries (default 5).
 * @returns What `fn` returns.
 */
export async function withRetry<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1;; i++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (i >= attempts || !code || !RETRYABLE.has(code)) throw err;
      await new Promise((r) => setTimeout(r, 5 * i + Math.random() * 20));
    }
  }
}
