import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";

export const WORKFLOWS_HELP = `Usage: orch workflows [--json]

Lists the available workflows: plugin files in WORKFLOWS_DIR (default ./workflows) and
the built-ins, with their description and parameter schema.
`;

interface JsonSchemaLike {
  properties?: Record<string, { type?: string; description?: string; format?: string }>;
  required?: string[];
}

/**
 * `orch workflows`: lists workflows with description and params.
 * @param ctx The app context.
 * @param args Arguments after `workflows`.
 * @returns The exit code.
 */
export async function workflowsCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values } = parseCommandArgs("workflows", args, { json: { type: "boolean" } });
  if (values.help) {
    ctx.io.stdout(WORKFLOWS_HELP);
    return 0;
  }
  const sources = (await ctx.registry()).sources();
  const infos = await ctx.pool().inspect(sources.map((source) => ({ source, paramSets: [] })));
  const rows = infos.map((info, i) => ({
    name: info.name,
    source: sources[i].kind === "file" ? sources[i].path : "built-in",
    description: info.description ?? "",
    params_schema: info.paramsSchema ?? null,
    ...(info.error ? { error: info.error.message } : {}),
  }));
  if (values.json) {
    ctx.io.stdout(JSON.stringify(rows, null, 2) + "\n");
    return 0;
  }
  const out: string[] = [];
  for (const r of rows) {
    out.push(`${r.name}  (${r.source})`);
    if (r.error) out.push(`  error: ${r.error}`);
    if (r.description) out.push(`  ${r.description}`);
    const schema = r.params_schema as JsonSchemaLike | null;
    const props = Object.entries(schema?.properties ?? {});
    if (props.length) {
      out.push("  params:");
      for (const [k, p] of props) {
        const req = schema?.required?.includes(k) ? "required" : "optional";
        const type = p.format ? `${p.type} (${p.format})` : p.type ?? "any";
        out.push(`    ${k}: ${type}, ${req}${p.description ? ` - ${p.description}` : ""}`);
      }
    }
    out.push("");
  }
  ctx.io.stdout(out.join("\n"));
  return 0;
}
