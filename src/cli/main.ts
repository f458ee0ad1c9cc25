import { OrchestratorError } from "../lib/errors.ts";
import type { AppContext } from "./context.ts";
import { UsageError } from "./errors.ts";
import type { CliIo } from "./io.ts";
import type { TaskPool } from "../pool/task_pool.ts";
import { VERSION } from "./version.ts";
import { configureStartupTrace, traceStep } from "./startup_trace.ts";

export { VERSION };

type Command = (ctx: AppContext, args: string[]) => Promise<number>;
/**
 * A command's cheap path, tried before the app context is built (whose imports cost
 * tens of ms): an exit code, or `null` to run the command.
 */
type QuickPath = (io: CliIo, args: string[], store: string | undefined) => Promise<number | null>;

/**
 * The commands. Each module is imported only when its command runs, so `orch run` does not
 * pay for the dashboard's assets or the PostgreSQL driver. The imports are literal, so
 * `deno compile` still embeds every command.
 */
const COMMANDS: Record<
  string,
  { load: () => Promise<Command>; summary: string; quick?: () => Promise<QuickPath> }
> = {
  run: {
    load: () => import("./commands/run.ts").then((m) => m.runCommand),
    summary: "Run a DAG now (or --dry-run to print its plan)",
  },
  validate: {
    load: () => import("./commands/validate.ts").then((m) => m.validateCommand),
    summary: "Check DAG files and list every problem",
  },
  workflows: {
    load: () => import("./commands/workflows.ts").then((m) => m.workflowsCommand),
    summary: "List workflows with description and params",
  },
  graph: {
    load: () => import("./commands/graph.ts").then((m) => m.graphCommand),
    summary: "Print a DAG as Mermaid or dot",
  },
  scheduler: {
    load: () => import("./commands/scheduler.ts").then((m) => m.schedulerCommand),
    summary: "Run scheduled DAGs: --once (crontab) or --serve",
    // cron calls --once every minute: a quiet minute ends before the heavy imports;
    // --serve becomes a small supervisor of a serving child (_supervisor.ts).
    quick: () => import("./commands/_scheduler_quick.ts").then((m) => m.schedulerQuickPath),
  },
  schedules: {
    load: () => import("./commands/schedules.ts").then((m) => m.schedulesCommand),
    summary: "List schedules, next fire times and last runs",
  },
  runs: {
    load: () => import("./commands/runs.ts").then((m) => m.runsCommand),
    summary: "List recent runs from the state store",
  },
  retry: {
    load: () => import("./commands/retry.ts").then((m) => m.retryCommand),
    summary: "Re-run a failed run, reusing its succeeded tasks",
  },
  dashboard: {
    load: () => import("./commands/dashboard.ts").then((m) => m.dashboardCommand),
    summary: "Serve the web dashboard and /metrics",
  },
  db: {
    load: () => import("./commands/db.ts").then((m) => m.dbCommand),
    summary: "Migrate the PostgreSQL store, show its schema version, import JSONL logs",
  },
  worker: {
    load: () => import("./commands/worker.ts").then((m) => m.workerCommand),
    summary: "Run tasks of distributed runs from the PostgreSQL store",
  },
};

/**
 * Adds a command, e.g. from an embedding program.
 * @param name The command word.
 * @param run Its implementation.
 * @param summary One line for `orch --help`.
 */
export function registerCommand(name: string, run: Command, summary: string): void {
  COMMANDS[name] = { load: () => Promise.resolve(run), summary };
}

/** Commands that use the store and so accept the global `--store URL`. */
const STORE_COMMANDS = new Set([
  "run",
  "retry",
  "runs",
  "scheduler",
  "schedules",
  "db",
  "worker",
  "dashboard",
]);

/**
 * Takes `--store URL` / `--store=URL` out of a store command's arguments (anywhere before
 * a `--`), so each command's own parser never sees it.
 * @param args The arguments after the command.
 * @param command The command, for usage errors.
 * @returns The remaining arguments and the value, if given.
 * @throws {UsageError} When `--store` has no value.
 */
function takeStoreFlag(args: string[], command: string): { rest: string[]; store?: string } {
  const rest: string[] = [];
  let store: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      rest.push(...args.slice(i));
      break;
    }
    if (a.startsWith("--store=")) store = a.slice("--store=".length);
    else if (a === "--store") {
      if (i + 1 >= args.length) throw new UsageError("Option '--store' needs a URL", command);
      store = args[++i];
    } else rest.push(a);
  }
  return { rest, store };
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const cmds = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`);
  return `orch ${VERSION}: run DAGs of workflow plugins, by hand or on a schedule

Usage: orch [--store URL] <command> [options]

Commands:
${cmds.join("\n")}

Run 'orch <command> --help' for a command's options.
--store URL (or ORCH_STORE): postgres://USER@HOST:5432/DB[?schema=S] to share one
PostgreSQL database between hosts; absent means the JSONL files (run, retry, runs,
scheduler, schedules, db).
Exit codes: 0 ok, 1 a run failed, 2 invalid input or usage, 3 locked, 4 internal error.
`;
}

/**
 * Runs the CLI: dispatches to a command and maps every error to a message and exit code.
 * User errors print `Name: message` (and a hint), never a stack trace.
 * @param args Command-line arguments.
 * @param io Streams and environment.
 * @param options A pool to use instead of Web Workers.
 * @returns The exit code.
 */
export async function runCli(
  args: string[],
  io: CliIo,
  options: { pool?: TaskPool } = {},
): Promise<number> {
  let ctx: AppContext | undefined;
  let failure: unknown;
  configureStartupTrace(io);
  traceStep("cli started");
  try {
    let store: string | undefined;
    if (args[0] === "--store" || args[0]?.startsWith("--store=")) {
      const taken = takeStoreFlag(args.slice(0, args[0] === "--store" ? 2 : 1), "orch");
      store = taken.store;
      args = args.slice(args[0] === "--store" ? 2 : 1);
    }
    let [name, ...rest] = args;
    if (!name || name === "--help" || name === "-h" || name === "help") {
      io.stdout(help());
      return name ? 0 : 2;
    }
    if (name === "--version" || name === "-V") {
      io.stdout(`orch ${VERSION}\n`);
      return 0;
    }
    const cmd = COMMANDS[name];
    if (!cmd) throw new UsageError(`Unknown command "${name}"`);
    if (STORE_COMMANDS.has(name)) {
      const taken = takeStoreFlag(rest, name);
      rest = taken.rest;
      store = taken.store ?? store;
    } else if (store !== undefined) {
      throw new UsageError(`Command "${name}" does not use the store: drop --store`, name);
    }
    const quick = await cmd.quick?.();
    const early = quick ? await quick(io, rest, store) : null;
    if (quick) traceStep(early === null ? "quick path gave up" : "quick path answered");
    if (early !== null) return early;
    const { AppContext } = await import("./context.ts");
    ctx = new AppContext(io, { ...options, store, command: name });
    const command = await cmd.load();
    traceStep(`command "${name}" loaded`);
    return await command(ctx, rest);
  } catch (err) {
    failure = err;
    return report(io, err);
  } finally {
    try {
      await ctx?.close();
    } catch (err) {
      // Closing re-throws an error the command already reported (e.g. a failed log write).
      if (err !== failure) report(io, err);
    }
  }
}

function report(io: CliIo, err: unknown): number {
  if (err instanceof OrchestratorError) {
    io.stderr(`${err.name}: ${err.message}\n`);
    if (err.hint) io.stderr(`Hint: ${err.hint}\n`);
    return err.exitCode;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  io.stderr(`Internal error: ${e.name}: ${e.message}\n`);
  if (io.env.ORCH_DEBUG) io.stderr(`${e.stack}\n`);
  else io.stderr("Set ORCH_DEBUG=1 for a stack trace, and please report it\n");
  return 4;
}
