import { defineWorkflow } from "../src/workflows/define_workflow.ts";

/** Summarises a meeting from its title, optional transcript and upstream outputs. */
export default defineWorkflow<{ meeting_title: string; transcript?: string }>({
  description: "Meeting brief from the title, an optional transcript and upstream summaries",
  params: (z) =>
    z.object({
      meeting_title: z.string().min(1).describe("Title of the meeting"),
      transcript: z.string().optional().describe(
        "Transcript text; lines with TODO or ACTION become action items",
      ),
    }),
  // Pure computation: no file, network or environment access.
  permissions: {},
  run(params) {
    const p = params as Record<string, unknown>;
    const context = Object.entries(p)
      .filter(([k, v]) => k.endsWith("__summary") && typeof v === "string")
      .map(([, v]) => String(v));
    const actions = (params.transcript ?? "").split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => /^(todo|action)\b/i.test(l))
      .map((l) => l.replace(/^(todo|action)\s*:?\s*/i, ""));
    const brief = [
      `Brief: ${params.meeting_title}`,
      context.length ? `Context: ${context.join("; ")}` : "Context: none",
      `Action items: ${actions.length}`,
    ].join("\n");
    return {
      title: params.meeting_title,
      brief,
      action_items: actions,
      summary: brief.split("\n")[0],
    };
  },
});
