import { api, h, jsonBlock, mount } from "./dom.js";

/** Workflows: name, description, parameter schema. */
export async function renderWorkflows(root) {
  const { configured, workflows } = await api("/api/workflows");
  mount(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Workflows")),
    !configured
      ? h("p", { class: "muted" }, "No workflow registry is wired to this dashboard.")
      : null,
    workflows.map((w) =>
      h(
        "section",
        { class: "panel workflow", "data-workflow": w.name },
        h("h2", null, h("code", null, w.name)),
        w.description ? h("p", null, w.description) : null,
        w.params !== undefined ? h("h4", null, "Parameters") : null,
        jsonBlock(w.params),
      )
    ),
  );
  return null;
}
