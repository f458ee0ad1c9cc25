import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { quarantinePath, readQuarantine, releaseFromQuarantine } from "../../run/quarantine.ts";

export const WORKFLOWS_HELP = `Usage: orch workflows [--json]
       orch workflows --unquarantine <name|all>

Lists the available workflows: plugin files in WORKFLOWS_DIR (default ./workflows) and
the built-ins, with their description and parameter schema, and which ones are
quarantined: a workflow that drove orch past ORCH_MEMORY_LIMIT_MB in a worker thread runs
in a memory-capped worker process from then on.

Options:
  --json                   Machine-readable list
  --unquarantine <name>    Let a quarantined workflow run in worker threads again
                           ("all": every one)
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
  const { values } = parseCommandArgs("workflows", args, {
    json: { type: "boolean" },
    unquarantine: { type: "string" },
  });
  if (values.help) {
    ctx.io.stdout(WORKFLOWS_HELP);
    return 0;
  }
  const qPath = quarantinePath(ctx.config.paths.statePath);
  if (typeof values.unquarantine === "string") {
    const name = values.unquarantine;
    const gone = releaseFromQuarantine(qPath, name === "all" ? "all" : [name]);
    ctx.io.stdout(
      gone.length
        ? `Released from quarantine: ${gone.join(", ")} (they run in worker threads again)\n`
        : `Not quarantined: ${name}\n`,
    );
    return 0;
  }
  const quarantine = readQuarantine(qPath, { onWarning: (m) => ctx.io.stderr(m + "\n") });
  const sources = (await ctx.registry()).sources();
  const infos = await ctx.pool().inspect(sources.map((source) => ({ source, paramSets: [] })));
  const rows = infos.map((info, i) => ({
    name: info.name,
    source: sources[i].kind === "file" ? sources[i].path : "built-in",
    description: info.description ?? "",
    params_schema: info.paramsSchema ?? null,
    ...(info.error ? { error: info.error.message } : {}),
    ...(quarantine.has(info.name) ? { quarantine: quarantine.get(info.name) } : {}),
  }));
  if (values.json) {
    ctx.io.stdout(JSON.stringify(rows, null, 2) + "\n");
    return 0;
  }
  const out: string[] = [];
  for (const r of rows) {
    out.push(`${r.name}  (${r.source})`);
    if (r.error) out.push(`  error: ${r.error}`);
    if (r.quarantine) {
      out.push(`  quarantined since ${r.quarantine.since}: ${r.quarantine.reason}`);
      out.push(
        `  (runs in a memory-capped worker process; orch workflows --unquarantine ${r.name})`,
      );
    }
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
