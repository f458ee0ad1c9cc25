import { resolve } from "node:path";
import { OrchestratorError } from "../../lib/errors.ts";
import { prepareRun } from "../../run/prepare.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";

export const VALIDATE_HELP = `Usage: orch validate FILE...

Checks DAG files: YAML syntax, fields, dependencies, cycles, workflows and their params.
Runs nothing and writes nothing. Exit 0 when every file is valid, 2 otherwise.
`;

/**
 * `orch validate`: checks DAG files and lists every problem.
 * @param ctx The app context.
 * @param args File paths.
 * @returns 0 when all are valid, else 2.
 */
export async function validateCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("validate", args, {});
  if (values.help) {
    ctx.io.stdout(VALIDATE_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("Missing FILE", "validate");
  let bad = 0;
  const registry = await ctx.registry();
  for (const file of positionals) {
    try {
      const p = await prepareRun(resolve(ctx.io.cwd, file), { registry, pool: ctx.pool() });
      ctx.io.stdout(`OK ${file}: DAG '${p.dag.name}', ${p.dag.tasks.length} tasks\n`);
    } catch (err) {
      if (!(err instanceof OrchestratorError)) throw err;
      bad++;
      ctx.io.stderr(`FAIL ${file}\n${err.name}: ${err.message}\n`);
    }
  }
  return bad ? 2 : 0;
}
