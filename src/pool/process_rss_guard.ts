/**
 * A worker process's `memoryMb` is a V8 heap cap (`--max-old-space-size`); memory outside
 * the heap (ArrayBuffers, typed arrays, Wasm memory) is not counted by it: measured, a
 * process capped at 32 MB filled 1 GB of `Uint8Array`s unhindered. So the parent also
 * watches the child's resident memory and kills it past the cap plus the runtime's own
 * share. Linux only (`/proc`); elsewhere the heap cap alone applies.
 * @module
 */

/** RSS a worker process may use beyond its heap cap: the runtime, code, buffers. */
export const PROCESS_RSS_OVERHEAD_MB = 256;

/** Sampling period in ms. */
const INTERVAL_MS = 50;

/**
 * Reads a process's resident set size from `/proc/<pid>/status`.
 * @param pid The process.
 * @returns The RSS in MiB, or undefined when it cannot be read (gone, not Linux).
 */
export function processRssMb(pid: number): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return kb ? Number(kb[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Samples a child's RSS until stopped, and calls `onOver` once when it passes `limitMb`.
 * The timer does not keep the process alive.
 * @param pid The child.
 * @param limitMb The RSS limit in MiB.
 * @param onOver Called with the RSS in MiB (then sampling stops).
 * @returns A function that stops sampling.
 */
export function watchProcessRss(
  pid: number,
  limitMb: number,
  onOver: (rssMb: number) => void,
): () => void {
  if (Deno.build.os !== "linux") return () => {};
  const timer = setInterval(() => {
    const rss = processRssMb(pid);
    if (rss === undefined || rss <= limitMb) return;
    clearInterval(timer);
    onOver(rss);
  }, INTERVAL_MS);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
