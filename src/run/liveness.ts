/**
 * Liveness of runs, for crash recovery. A running run holds an exclusive `flock` on
 * `runs/<run_id>.lock` beside the state file from before its `run_started` (or its
 * `schedule_enqueued`) until after its `run_finished`. The kernel releases the lock when
 * the process dies, even by SIGKILL (deno-facts §4), so "lock not held" plus "pid gone"
 * means the run will never finish by itself. Locks are per open file: a second handle
 * in the same process sees the lock as held too.
 * @module
 */
import { dirname, join } from "node:path";
import type { LivenessCheck, LivenessSubject, RunLiveness, RunLock } from "../store/store.ts";

export type { RunLock };

/**
 * How old an unheld lock file of no unfinished run must be before recovery removes it.
 * A process takes its lock right after creating the file; the margin only keeps a sweep
 * from racing that.
 */
export const STALE_LOCK_MS = 10_000;

/**
 * Liveness of the JSONL backend: a held `flock` on `runs/<run_id>.lock`. A run is dead
 * when it was recorded on this host, its process is gone (or the pid now belongs to a
 * younger process) and nobody holds its lock. Runs of other hosts are never declared
 * dead (with files, exactly-once and recovery hold on one machine only).
 */
export class FileRunLiveness implements RunLiveness {
  /** The runs directory. */
  readonly dir: string;

  /** @param dir The runs directory (created on the first lock). */
  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * @param runId The run.
   * @returns The held lock.
   */
  acquire(runId: string): Promise<RunLock> {
    return acquireRunLock(this.dir, runId);
  }

  /**
   * @param run The unfinished run.
   * @param probe Host and process check.
   * @returns Why it is dead, or `null` when it may be alive.
   */
  async isDead(run: LivenessSubject, probe: LivenessCheck): Promise<string | null> {
    if (run.host !== probe.host) return null;
    if (probe.processMayBeAlive(run.pid, run.since)) return null;
    if (await isRunLockHeld(this.dir, run.runId)) return null;
    const what = run.started ? "" : " before it started";
    return `process ${run.pid} on "${run.host}" is gone${what} and the run lock is free`;
  }

  /** @param runId The run whose lock file to remove. */
  forget(runId: string): Promise<void> {
    return removeRunLock(this.dir, runId);
  }

  /**
   * Removes lock files that no run will ever release or recover: unheld, older than
   * {@link STALE_LOCK_MS} and not of an unfinished run. A scheduler killed inside its
   * tick, after taking the locks of the runs it was enqueueing but before the enqueue
   * committed, leaves such files (no event names those runs).
   * @param options `now` and the run ids to keep.
   */
  async sweep(options: { now: Date; keep: ReadonlySet<string> }): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(this.dir));
    } catch {
      return; // no runs directory yet
    }
    for (const entry of entries) {
      if (!entry.isFile || !entry.name.endsWith(".lock")) continue;
      const runId = entry.name.slice(0, -".lock".length);
      if (options.keep.has(runId)) continue;
      const mtime = (await Deno.stat(`${this.dir}/${entry.name}`).catch(() => null))?.mtime;
      if (!mtime || options.now.getTime() - mtime.getTime() < STALE_LOCK_MS) continue;
      if (!(await isRunLockHeld(this.dir, runId))) await removeRunLock(this.dir, runId);
    }
  }
}

/**
 * The liveness given, else lock files in `runsDir`, else in `runs/` beside the JSONL
 * state file of `store`.
 * @param deps The store and the optional liveness or runs directory.
 * @returns The liveness to use.
 * @throws {TypeError} When none is given and the store is not a JSONL file.
 */
export function defaultLiveness(
  deps: { store: object; liveness?: RunLiveness; runsDir?: string },
): RunLiveness {
  if (deps.liveness) return deps.liveness;
  if (deps.runsDir !== undefined) return new FileRunLiveness(deps.runsDir);
  const path = (deps.store as { path?: unknown }).path;
  if (typeof path !== "string") {
    throw new TypeError("Run liveness is needed for a store that is not a JSONL file");
  }
  return new FileRunLiveness(runsDir(path));
}

/**
 * The directory of run lock files for a state file.
 * @param statePath The state JSONL file.
 * @returns `<dir of statePath>/runs`.
 */
export function runsDir(statePath: string): string {
  return join(dirname(statePath), "runs");
}

/**
 * @param dir The runs directory.
 * @param runId The run.
 * @returns The run's lock file.
 */
export function runLockPath(dir: string, runId: string): string {
  return join(dir, `${runId.replace(/[^A-Za-z0-9_.-]/g, "_")}.lock`);
}

/**
 * Creates the run's lock file and takes an exclusive lock on it.
 * @param dir The runs directory (created if needed).
 * @param runId The run.
 * @returns The held lock.
 * @throws {Deno.errors.PermissionDenied} When the directory cannot be written.
 */
export async function acquireRunLock(dir: string, runId: string): Promise<RunLock> {
  await Deno.mkdir(dir, { recursive: true });
  const path = runLockPath(dir, runId);
  const file = await Deno.open(path, { write: true, create: true });
  await file.lock(true);
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      try {
        Deno.removeSync(path);
      } catch { /* already gone */ }
      file.close();
    },
  };
}

/**
 * Whether some process (this one included) holds the run's lock. Never blocks.
 * @param dir The runs directory.
 * @param runId The run.
 * @returns False when the file is missing or its lock is free.
 */
export async function isRunLockHeld(dir: string, runId: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(runLockPath(dir, runId), { write: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  try {
    const got = await file.tryLock(true);
    if (got) await file.unlock();
    return !got;
  } finally {
    file.close();
  }
}

/**
 * Removes a stale lock file (of a run declared dead). Missing files are fine.
 * @param dir The runs directory.
 * @param runId The run.
 */
export async function removeRunLock(dir: string, runId: string): Promise<void> {
  await Deno.remove(runLockPath(dir, runId)).catch(() => {});
}

/** @returns This machine's host name, or `"unknown"` when it cannot be read. */
export function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/**
 * Whether the process `pid` that recorded an event at `since` may still be running: its
 * `/proc/<pid>` exists and it did not start after `since` (a reused pid belongs to a
 * younger process). Without `/proc` (not Linux) the answer is `true`: only the lock decides.
 * @param pid The process id.
 * @param since When the process was known to be running.
 * @returns False when the process is certainly gone.
 */
export function processMayBeAlive(pid: number, since: Date): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === Deno.pid) return true;
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return !procAvailable();
    return true;
  }
  const started = processStartTime(stat);
  return started === null || started.getTime() <= since.getTime() + 2000;
}

function procAvailable(): boolean {
  try {
    Deno.statSync("/proc/self/stat");
    return true;
  } catch {
    return false;
  }
}

/** Start of a process from its `/proc/<pid>/stat` (field 22, clock ticks after boot). */
function processStartTime(stat: string): Date | null {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[19]);
  const bootLine = /^btime (\d+)$/m.exec(readOr("/proc/stat"));
  if (!Number.isFinite(ticks) || !bootLine) return null;
  const CLOCK_TICKS_PER_S = 100;
  return new Date((Number(bootLine[1]) + ticks / CLOCK_TICKS_PER_S) * 1000);
}

function readOr(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}
