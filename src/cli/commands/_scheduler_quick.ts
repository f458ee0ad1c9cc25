/**
 * The quick path of `orch scheduler`, tried before the app context is built: `--serve`
 * starts the supervisor (`_supervisor.ts`), anything else tries the quiet `--once` minute
 * (`_scheduler_quiet.ts`). Imports nothing until it knows which, so that neither path
 * pays for the other.
 * @module
 */
import type { CliIo } from "../io.ts";

/** The environment variable that turns the supervisor off (`0`) or marks its child. */
export const SUPERVISOR_ENV = "ORCH_SERVE_SUPERVISOR";

/**
 * The quick path of `orch scheduler` (before the app context is built): `--serve` becomes
 * the supervisor unless turned off or already supervised; everything else goes to the
 * quiet `--once` path (`_scheduler_quiet.ts`).
 * @param io Streams and environment.
 * @param args The arguments after `scheduler`.
 * @param store The global `--store` value, if given.
 * @returns An exit code, or `null` to run the full command.
 */
export async function schedulerQuickPath(
  io: CliIo,
  args: string[],
  store: string | undefined,
): Promise<number | null> {
  if (supervises(io, args)) {
    const childArgs = ["scheduler", ...(store === undefined ? [] : ["--store", store]), ...args];
    const { spawnServeChild, superviseServe } = await import("./_supervisor.ts");
    return await superviseServe({
      spawn: (env) => spawnServeChild(childArgs, { ...io, env: { ...io.env, ...env } }),
      stderr: (line) => io.stderr(`${new Date().toISOString()} ${line}\n`),
    });
  }
  const { quietSchedulerOnce } = await import("./_scheduler_quiet.ts");
  return await quietSchedulerOnce(io, args, store);
}

function supervises(io: CliIo, args: string[]): boolean {
  const mode = io.env[SUPERVISOR_ENV];
  if (mode === "0" || mode === "child") return false;
  const before = args.includes("--") ? args.slice(0, args.indexOf("--")) : args;
  return before.includes("--serve") && !before.includes("--once") &&
    !before.includes("--help") && !before.includes("-h");
}
