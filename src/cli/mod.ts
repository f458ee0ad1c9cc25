/**
 * The command-line interface: argument parsing, commands and rendering.
 * @module
 */
export { registerCommand, runCli, VERSION } from "./main.ts";
export { type CliIo, processIo } from "./io.ts";
export { AppContext } from "./context.ts";
export { UsageError } from "./errors.ts";
export { renderDryRun, renderProgress, renderSummary, runResultJson } from "./render.ts";
export { renderGraph } from "./commands/graph.ts";
