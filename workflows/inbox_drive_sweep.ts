import { defineWorkflow } from "../src/workflows/define_workflow.ts";

const URGENT: Record<string, number> = {
  urgent: 5,
  asap: 5,
  outage: 5,
  blocker: 4,
  today: 3,
  deadline: 3,
  overdue: 3,
  invoice: 2,
  contract: 2,
  review: 1,
  meeting: 1,
};

function score(text: string): number {
  const words = text.toLowerCase().match(/[a-z]+/g) ?? [];
  return words.reduce((s, w) => s + (URGENT[w] ?? 0), 0);
}

function split(text: string): string[] {
  return text.split(/\r?\n|;/).map((s) => s.replace(/^\s*[-*\d.)]+\s*/, "").trim()).filter(
    Boolean,
  );
}

/** Ranks inbox and drive items by urgency keywords. */
export default defineWorkflow<{ inbox_items: string; drive_items?: string }>({
  description: "Inbox/drive prioritization: ranks items by urgency keywords",
  params: (z) =>
    z.object({
      inbox_items: z.string().describe("Inbox items, one per line or separated by ';'"),
      drive_items: z.string().optional().describe("Drive files, one per line"),
    }),
  // Pure computation: no file, network or environment access.
  permissions: {},
  run(params, ctx) {
    const items = [...split(params.inbox_items), ...split(params.drive_items ?? "")]
      .map((text, i) => ({ text, score: score(text), order: i }))
      .sort((a, b) => b.score - a.score || a.order - b.order)
      .map(({ text, score }) => ({
        text,
        score,
        priority: score >= 4 ? "high" : score >= 2 ? "medium" : "low",
      }));
    const high = items.filter((i) => i.priority === "high").length;
    ctx.log(`ranked ${items.length} items, ${high} high priority`);
    return { summary: `Prioritized ${items.length} items`, high_priority: high, items };
  },
});
