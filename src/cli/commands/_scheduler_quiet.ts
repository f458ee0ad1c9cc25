import { resolve } from "node:path";
import { type Config, loadConfig } from "../../config/config.ts";
import { parseStoreConfig, type StoreConfig } from "../../store/postgres/config.ts";
import { type NextDue, type NextDueSetup, readNextDue, setupKey } from "../../schedule/next_due.ts";
import { parseCommandArgs } from "../args.ts";
import type { CliIo } from "../io.ts";
import { VERSION } from "../version.ts";
import { systemClock } from "../../lib/clock.ts";

/**
 * The cheap path of `scheduler --once` (cron calls it every minute): when the next-due
 * index says that nothing can be due this minute, prints "Nothing due" and ends, having
 * imported neither the YAML parser nor zod nor croner. Runs before the app context is
 * built; anything unusual (other options, a PostgreSQL store, an invalid environment,
 * no or a stale index) is left to the full command, which also reports errors.
 * @param io Streams and environment.
 * @param args The arguments after `scheduler`.
 * @param store The global `--store` value, if given.
 * @returns 0 when the minute was quiet, or `null` to run the full command.
 */
export async function quietSchedulerOnce(
  io: CliIo,
  args: string[],
  store: string | undefined,
): Promise<number | null> {
  earlier = null;
  let setup: NextDueSetup | null;
  try {
    const config = loadConfig(io.env, { cwd: io.cwd });
    setup = onceSetup(
      io,
      args,
      config,
      store === undefined ? config.store : parseStoreConfig(store),
    );
  } catch {
    return null;
  }
  if (!setup) return null;
  const now = systemClock.now();
  const next = await readNextDue(setup, now).catch(() => null);
  if (next?.quiet) {
    io.stderr("Nothing due\n");
    return 0;
  }
  earlier = next && { setup: JSON.stringify(setup), minute: minuteOf(now), next };
  return null;
}

/** What the quick path of this process read, for the full command to use once. */
let earlier: { setup: string; minute: number; next: NextDue } | null = null;

/**
 * The next-due index as the quick path of this process read it moments ago (its
 * snapshot was taken before anything read the inputs), so the full command need not
 * read and digest them again. Given once.
 * @param setup The command's setup.
 * @param now The tick's instant.
 * @returns That read, when it was for the same setup and minute; else `undefined`.
 */
export function takeQuickRead(setup: NextDueSetup, now: Date): NextDue | undefined {
  const e = earlier;
  earlier = null;
  return e && e.setup === JSON.stringify(setup) && e.minute === minuteOf(now) ? e.next : undefined;
}

function minuteOf(at: Date): number {
  return Math.floor(at.getTime() / 60_000);
}

/**
 * The next-due index setup of `scheduler --once` on the JSONL store.
 * @param io Streams and environment.
 * @param args The arguments after `scheduler`.
 * @param config The config.
 * @param store The store in use.
 * @returns The setup, or `null` when the index does not apply.
 */
export function onceSetup(
  io: CliIo,
  args: string[],
  config: Config,
  store: StoreConfig,
): NextDueSetup | null {
  try {
    const { values, positionals } = parseCommandArgs("scheduler", args, {
      dir: { type: "string" },
      once: { type: "boolean" },
      serve: { type: "boolean" },
    });
    const dir = values.dir;
    if (!values.once || values.serve || values.help || positionals.length > 0) return null;
    if (typeof dir !== "string" || store.kind !== "jsonl" || config.execution !== "local") {
      return null;
    }
    const { statePath, workflowsDir } = config.paths;
    const key = setupKey({ version: VERSION, cwd: io.cwd, workflowsDir, sandbox: config.sandbox });
    return { dir: resolve(io.cwd, dir), workflowsDir, statePath, key };
  } catch {
    return null;
  }
}
