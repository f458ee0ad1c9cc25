/**
 * orch command-line entry point: `orch <command> [options]`.
 * Parses argv, runs the command and exits with its code. Ends with `Deno.exit` so that a
 * worker stuck in a synchronous loop (which `terminate()` cannot stop) never keeps the
 * process alive.
 * @module
 */
import { processIo, runCli } from "./src/cli/mod.ts";

if (import.meta.main) {
  const code = await runCli(Deno.args, processIo());
  Deno.exit(code);
}
