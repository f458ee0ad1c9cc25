/**
 * The `scheduler --serve` supervisor. The process the user (or systemd) starts stays small:
 * it imports no engine, runs the serving loop in a child process (the same binary and
 * arguments), forwards SIGINT and SIGTERM to it, and restarts it at once when it stopped
 * after a memory incident ({@link MEMORY_EXIT_CODE}: a plugin allocated without yielding
 * in a worker thread, which cannot be stopped; see `src/run/memory_incident.ts`), at most
 * {@link RESTART_LIMIT} times in a window. Any other exit of the child ends the supervisor
 * with the child's code.
 *
 * The child learns from `ORCH_SERVE_SUPERVISOR=child` that it is supervised: it stops at
 * once when its stdin (a pipe from the supervisor) closes, so that it does not outlive a
 * supervisor killed with SIGKILL. After a restart it also gets `ORCH_SERVE_CONTINUE`
 * (`<pid>@<ISO start>` of the stopped child), to continue the runs the stop ended.
 * `ORCH_SERVE_SUPERVISOR=0` serves in the started process (no supervisor).
 * @module
 */
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { MEMORY_EXIT_CODE } from "../../run/memory_incident.ts";
import type { CliIo } from "../io.ts";
import { SUPERVISOR_ENV } from "./_scheduler_quick.ts";

export { SUPERVISOR_ENV };
/** The environment variable that names the stopped child to the restarted one. */
export const CONTINUE_ENV = "ORCH_SERVE_CONTINUE";

/** At most this many restarts within `windowMs`; past it the supervisor gives up. */
export const RESTART_LIMIT = { restarts: 5, windowMs: 60_000 } as const;

/** A running serving child. */
export interface ServeChild {
  readonly pid: number;
  readonly status: Promise<{ code: number; signal: Deno.Signal | null }>;
  kill(signal: Deno.Signal): void;
}

/** Options of {@link superviseServe}. */
export interface SuperviseOptions {
  /** Starts the serving child with these extra environment variables. */
  spawn(env: Record<string, string>): ServeChild;
  /** Writes one line to stderr. */
  stderr(line: string): void;
  /** Default `Date.now`. */
  now?: () => number;
  /** Default {@link RESTART_LIMIT}. */
  limit?: { restarts: number; windowMs: number };
  /** Calls `onSignal` on SIGINT/SIGTERM; returns the remover. Default: the process's. */
  onSignals?: (onSignal: (sig: Deno.Signal) => void) => () => void;
}

/**
 * Runs the serving child until it ends other than by a memory stop, restarting it after
 * each memory stop within the restart limit.
 * @param options How to start a child, report, tell time and hear signals.
 * @returns The exit code: the child's, or {@link MEMORY_EXIT_CODE} past the restart limit.
 */
export async function superviseServe(options: SuperviseOptions): Promise<number> {
  const now = options.now ?? Date.now;
  const limit = options.limit ?? RESTART_LIMIT;
  let restarts: number[] = [];
  let stopping = false;
  let child: ServeChild | undefined;
  const remove = (options.onSignals ?? processSignals)((sig) => {
    stopping = true;
    try {
      child?.kill(sig);
    } catch { /* already gone */ }
  });
  try {
    let extra: Record<string, string> = { [SUPERVISOR_ENV]: "child" };
    for (;;) {
      const since = new Date(now()).toISOString();
      child = options.spawn(extra);
      const { code } = await child.status;
      if (stopping || code !== MEMORY_EXIT_CODE) return code;
      restarts = restarts.filter((t) => now() - t < limit.windowMs);
      if (restarts.length >= limit.restarts) {
        options.stderr(
          `orch: the serving process stopped after a memory incident ${limit.restarts + 1} ` +
            `times within ${limit.windowMs / 1000} s: giving up (exit ${MEMORY_EXIT_CODE}); ` +
            `see the incident lines above and 'orch workflows' for the quarantine`,
        );
        return MEMORY_EXIT_CODE;
      }
      restarts.push(now());
      options.stderr(
        `orch: the serving process ${child.pid} stopped after a memory incident ` +
          `(exit ${MEMORY_EXIT_CODE}): restarting it (${restarts.length} of at most ` +
          `${limit.restarts} restarts within ${limit.windowMs / 1000} s)`,
      );
      extra = { [SUPERVISOR_ENV]: "child", [CONTINUE_ENV]: `${child.pid}@${since}` };
    }
  } finally {
    remove();
  }
}

/**
 * Starts `orch <args>` as a child: the compiled binary itself, or `deno run` of this
 * checkout's `main.ts` with this process's permissions and `deno.json`. Its stdout and
 * stderr are this process's; its stdin is a pipe that closes when this process ends.
 * @param args The child's arguments (`scheduler ... --serve`).
 * @param io Its working directory and environment.
 * @returns The running child.
 */
export function spawnServeChild(args: string[], io: Pick<CliIo, "env" | "cwd">): ServeChild {
  const exe = Deno.execPath();
  const compiled = !basename(exe).toLowerCase().startsWith("deno");
  const child = new Deno.Command(exe, {
    args: compiled ? args : [...denoRunArgs(), ...args],
    cwd: io.cwd,
    clearEnv: true,
    env: Object.fromEntries(
      Object.entries(io.env).filter((kv): kv is [string, string] => kv[1] !== undefined),
    ),
    stdin: "piped",
    stdout: "inherit",
    stderr: "inherit",
    // Its own process group: a terminal's Ctrl-C reaches the supervisor, which forwards it.
    detached: true,
  }).spawn();
  // One pipe per child: close it once the child is gone (restarts must not pile them up).
  child.status.finally(() => child.stdin.close().catch(() => {}));
  return child;
}

function denoRunArgs(): string[] {
  const path = (rel: string) => {
    const url = new URL(rel, import.meta.url);
    return url.protocol === "file:" ? fileURLToPath(url) : url.href;
  };
  return [
    "run",
    "--quiet",
    "--no-prompt",
    ...grantedFlags(),
    "--config",
    path("../../../deno.json"),
    path("../../../main.ts"),
  ];
}

/** The permission flags this process was granted, for its child. */
function grantedFlags(): string[] {
  const names = ["read", "write", "net", "env", "run", "sys", "ffi"] as const;
  const granted = names.filter((name) =>
    Deno.permissions.querySync({ name } as Deno.PermissionDescriptor).state === "granted"
  );
  return granted.length === names.length ? ["--allow-all"] : granted.map((n) => `--allow-${n}`);
}

function processSignals(onSignal: (sig: Deno.Signal) => void): () => void {
  const sigs: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const fns = sigs.map((s) => [s, () => onSignal(s)] as const);
  for (const [s, f] of fns) Deno.addSignalListener(s, f);
  return () => {
    for (const [s, f] of fns) Deno.removeSignalListener(s, f);
  };
}

/**
 * In a supervised child: calls `onGone` when the supervisor's pipe on stdin closes (the
 * supervisor ended without stopping this child, e.g. killed with SIGKILL).
 * @param onGone Called once, at the end of stdin.
 */
export function watchSupervisor(onGone: () => void): void {
  (async () => {
    try {
      for await (const _ of Deno.stdin.readable) { /* nothing is sent */ }
    } catch { /* closed */ }
    onGone();
  })();
}

/**
 * The stopped child named by {@link CONTINUE_ENV}, in a restarted child.
 * @param env The environment.
 * @returns Its pid and start, or null when absent or malformed.
 */
export function stoppedChild(
  env: Readonly<Record<string, string | undefined>>,
): { pid: number; since: string } | null {
  const m = /^(\d+)@(.+)$/.exec(env[CONTINUE_ENV] ?? "");
  return m && !Number.isNaN(Date.parse(m[2])) ? { pid: Number(m[1]), since: m[2] } : null;
}
