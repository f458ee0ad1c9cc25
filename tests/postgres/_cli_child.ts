// Runs the orch CLI with the `db` command registered, as src/cli/main.ts will once the
// lead wires it: `deno run -A _cli_child.ts db status --store URL`.
import { DB_SUMMARY, dbCommand } from "../../src/cli/commands/db.ts";
import { processIo } from "../../src/cli/io.ts";
import { registerCommand, runCli } from "../../src/cli/main.ts";

registerCommand("db", dbCommand, DB_SUMMARY);
Deno.exit(await runCli(Deno.args, processIo()));
