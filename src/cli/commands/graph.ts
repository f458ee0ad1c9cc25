import { resolve } from "node:path";
import { loadDag } from "../../dag/load.ts";
import type { Dag } from "../../dag/types.ts";
import { buildPlan } from "../../plan/build_plan.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";

export const GRAPH_HELP = `Usage: orch graph --dag FILE [--format mermaid|dot]

Prints the DAG as a Mermaid flowchart (default) or a Graphviz dot graph.
Edges point from a task to the tasks that depend on it.
`;

/**
 * Renders a DAG as Mermaid (`a --> b`) or dot. Pure.
 * @param dag The DAG.
 * @param format `mermaid` or `dot`.
 * @returns The text, ending with a newline.
 */
export function renderGraph(dag: Dag, format: "mermaid" | "dot"): string {
  const plan = buildPlan(dag);
  const edges = plan.order.flatMap((i) => dag.tasks[i].dependsOn.map((d) => [d, dag.tasks[i].id]));
  if (format === "dot") {
    const q = (s: string) => JSON.stringify(s);
    const nodes = plan.order.map((i) => {
      const t = dag.tasks[i];
      return `  ${q(t.id)} [label=${q(`${t.id}\n${t.workflowRef}`)}];`;
    });
    return [
      `digraph ${q(dag.name)} {`,
      "  rankdir=LR;",
      ...nodes,
      ...edges.map(([a, b]) => `  ${q(a)} -> ${q(b)};`),
      "}",
    ]
      .join("\n") + "\n";
  }
  const nodes = plan.order.map((i) => {
    const t = dag.tasks[i];
    return `  ${t.id}["${t.id}<br/>${t.workflowRef}"]`;
  });
  return ["graph TD", ...nodes, ...edges.map(([a, b]) => `  ${a} --> ${b}`)].join("\n") + "\n";
}

/**
 * `orch graph`: prints the DAG's graph.
 * @param ctx The app context.
 * @param args Arguments after `graph`.
 * @returns The exit code.
 */
export async function graphCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("graph", args, {
    dag: { type: "string" },
    format: { type: "string", default: "mermaid" },
  });
  if (values.help) {
    ctx.io.stdout(GRAPH_HELP);
    return 0;
  }
  const file = (values.dag as string | undefined) ?? positionals[0];
  if (!file) throw new UsageError("Missing --dag FILE", "graph");
  const format = values.format as string;
  if (format !== "mermaid" && format !== "dot") {
    throw new UsageError(`Unknown --format "${format}": expected mermaid or dot`, "graph");
  }
  ctx.io.stdout(renderGraph(await loadDag(resolve(ctx.io.cwd, file)), format));
  return 0;
}
