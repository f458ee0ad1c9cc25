/** Waits for a duration; injected so tests never wait for real. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/**
 * Resolves after `ms` milliseconds, or rejects with the signal's reason when aborted.
 * @param ms Milliseconds to wait.
 * @param signal Optional abort signal.
 * @returns A promise that resolves after the delay.
 * @throws {unknown} The signal's reason when aborted.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function onAbort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    function done() {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
