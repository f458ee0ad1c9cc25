import { OrchestratorError } from "../lib/errors.ts";
import { dashboardCommand } from "./commands/dashboard.ts";
import { DB_SUMMARY, dbCommand } from "./commands/db.ts";
import { graphCommand } from "./commands/graph.ts";
import { retryCommand } from "./commands/retry.ts";
import { runCommand } from "./commands/run.ts";
import { runsCommand } from "./commands/runs.ts";
import { schedulerCommand } from "./commands/scheduler.ts";
import { schedulesCommand } from "./commands/schedules.ts";
import { validateCommand } from "./commands/validate.ts";
import { workflowsCommand } from "./commands/workflows.ts";
import { AppContext } from "./context.ts";
import { UsageError } from "./errors.ts";
import type { CliIo } from "./io.ts";
import type { TaskPool } from "../pool/task_pool.ts";

/** orch's version, printed by `--version`. */
export const VERSION = "0.1.0";

type Command = (ctx: AppContext, args: string[]) => Promise<number>;

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  run: { run: runCommand, summary: "Run a DAG now (or --dry-run to print its plan)" },
  validate: { run: validateCommand, summary: "Check DAG files and list every problem" },
  workflows: { run: workflowsCommand, summary: "List workflows with description and params" },
  graph: { run: graphCommand, summary: "Print a DAG as Mermaid or dot" },
  dashboard: { run: dashboardCommand, summary: "Serve the web dashboard and /metrics" },
  db: { run: dbCommand, summary: DB_SUMMARY },
};

/**
 * Adds a command (used by later modules: scheduler, runs, dashboard).
 * @param name The command word.
 * @param run Its implementation.
 * @param summary One line for `orch --help`.
 */
export function registerCommand(name: string, run: Command, summary: string): void {
  COMMANDS[name] = { run, summary };
}

registerCommand("scheduler", schedulerCommand, "Run scheduled DAGs: --once (crontab) or --serve");
registerCommand("schedules", schedulesCommand, "List schedules, next fire times and last runs");
registerCommand("runs", runsCommand, "List recent runs from the state store");
registerCommand("retry", retryCommand, "Re-run a failed run, reusing its succeeded tasks");

/** Commands that use the store and so accept the global `--store URL`. */
const STORE_COMMANDS = new Set(["run", "retry", "runs", "scheduler", "schedules", "db"]);

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
    ctx = new AppContext(io, { ...options, store, command: name });
    return await cmd.run(ctx, rest);
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
