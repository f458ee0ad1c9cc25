/**
 * orch command-line entry point: `orch <command> [options]`.
 * Parses argv, runs the command and exits with its code. Ends with `Deno.exit` so that a
 * worker stuck in a synchronous loop (which `terminate()` cannot stop) never keeps the
 * process alive.
 * @module
 */
// Not src/cli/mod.ts: its re-exports would load the YAML parser before any command runs.
import { runCli } from "./src/cli/main.ts";
import { processIo } from "./src/cli/io.ts";

if (import.meta.main) {
  if (Deno.args[0] === "__process-worker") {
    // A compiled binary is its own worker process (see src/pool/process_worker.ts).
    const { processWorkerMain } = await import("./src/pool/process_main.ts");
    await processWorkerMain(Deno.args[1] ?? "");
  } else {
    const code = await runCli(Deno.args, processIo());
    Deno.exit(code);
  }
}
