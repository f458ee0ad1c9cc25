/** Kinds of pool worker and how to start and stop them. */
import type { SandboxProfile } from "../workflows/permissions.ts";
import { ProcessWorker } from "./process_worker.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";

/** The part of a Web Worker the pool uses; `InlinePool` provides a same-thread one. */
export interface WorkerLike {
  postMessage(msg: ToWorker): void;
  onmessage: ((e: MessageEvent<FromWorker>) => void) | null;
  onerror: ((e: ErrorEvent) => void) | null;
  terminate(): void;
}

/** What kind of worker a job needs: its sandbox and whether it runs in a process. */
export interface WorkerSpec {
  sandbox?: SandboxProfile;
  /** Run in a worker process (killable, heap-capped) instead of a thread. */
  process?: { memoryMb?: number };
}

/** Detaches and terminates a worker (a thread stuck in a synchronous loop may survive). */
export function stop(worker: WorkerLike | undefined): void {
  if (!worker) return;
  worker.onmessage = null;
  worker.onerror = null;
  worker.terminate();
}

/** A stable key per kind of worker: workers with equal keys are interchangeable. */
export function specKey(spec: WorkerSpec): string {
  const base = spec.sandbox?.key ?? "";
  return spec.process ? `${base}|process:${spec.process.memoryMb ?? ""}` : base;
}

/** Creates a worker of the given kind: a worker process, or a module Web Worker. */
export function spawnWorker(spec: WorkerSpec): WorkerLike {
  if (spec.process) {
    return new ProcessWorker({
      permissions: spec.sandbox?.permissions,
      memoryMb: spec.process.memoryMb,
    });
  }
  return spawnWebWorker(spec.sandbox);
}

function spawnWebWorker(sandbox?: SandboxProfile): WorkerLike {
  const url = new URL("./worker_main.ts", import.meta.url);
  const worker = sandbox
    // Needs --unstable-worker-options (deno.json "unstable": ["worker-options"]).
    ? new Worker(
      url,
      { type: "module", deno: { permissions: sandbox.permissions } } as WorkerOptions,
    )
    : new Worker(url, { type: "module" });
  // The new worker imports its modules now, and this thread waits for its first answer.
  loadTimers();
  return worker;
}

let timersLoaded = false;

/**
 * Sets up this thread's timers if nothing has used one yet. Deno 2.9.6 does that (it
 * loads its `node:timers` module) on a thread's first `setTimeout` or `setInterval`: 4-5
 * ms (measured). In a CLI run the first timer is the pool's memory guard, armed by the
 * first job right after `dag_start`, so those milliseconds delayed the first task of
 * every run; done here, they overlap the new worker's imports.
 */
function loadTimers(): void {
  if (timersLoaded) return;
  timersLoaded = true;
  clearTimeout(setTimeout(loadTimers, 0));
}
