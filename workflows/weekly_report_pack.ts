import { defineWorkflow } from "../src/workflows/define_workflow.ts";

const DAY_MS = 86_400_000;

/** Builds a Markdown weekly status report for a date range from upstream summaries. */
export default defineWorkflow<{ start_date: string; end_date: string } & Record<string, unknown>>({
  description: "Weekly status report (Markdown) for a date range, from upstream summaries",
  params: (z) =>
    z.object({
      start_date: z.iso.date().describe("First day, YYYY-MM-DD"),
      end_date: z.iso.date().describe("Last day, YYYY-MM-DD"),
    }).refine((p) => p.start_date <= p.end_date, {
      message: "start_date must not be after end_date",
      path: ["end_date"],
    }),
  // Pure computation: no file, network or environment access.
  permissions: {},
  run(params) {
    const days = Math.round(
      (Date.parse(params.end_date) - Date.parse(params.start_date)) / DAY_MS,
    ) + 1;
    const upstream = Object.entries(params)
      .filter(([k, v]) => k.endsWith("__summary") && typeof v === "string")
      .map(([k, v]) => `- ${k.slice(0, -"__summary".length)}: ${v}`);
    const title = `Weekly report ${params.start_date} to ${params.end_date}`;
    const lines = [
      `# ${title}`,
      "",
      `Period: ${days} day${days === 1 ? "" : "s"}`,
      "",
      "## Inputs",
      ...(upstream.length ? upstream : ["- none"]),
    ];
    return {
      title,
      days,
      summary: `Report for ${days} days from ${upstream.length} sources`,
      report_markdown: lines.join("\n"),
    };
  },
});
