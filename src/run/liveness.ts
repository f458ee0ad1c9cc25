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

/** A held run lock. */
export interface RunLock {
  /** The lock file. */
  readonly path: string;
  /** Releases the lock and removes the file. Idempotent. */
  release(): void;
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
