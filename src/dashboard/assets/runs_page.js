import { api, badge, fmtDuration, fmtTime, h, link, mount } from "./dom.js";

const STATUSES = ["running", "success", "failed", "cancelled", "interrupted"];
const PAGE_SIZE = 50;

function select(name, label, values, current) {
  return h(
    "label",
    { class: "filter" },
    label,
    h(
      "select",
      { name },
      h("option", { value: "" }, "any"),
      values.map((v) => h("option", { value: v, selected: v === current }, v)),
    ),
  );
}

function row(run, ctx) {
  const href = `/runs/${encodeURIComponent(run.run_id)}`;
  const t = run.tasks;
  return h(
    "tr",
    {
      class: "run-row",
      "data-run-id": run.run_id,
      "data-status": run.status,
      onclick: (e) => {
        if (!e.target.closest("a")) ctx.navigate(href);
      },
    },
    h("td", null, badge(run.status)),
    h("td", { class: "mono" }, link(href, run.run_id)),
    h("td", null, run.dag_name),
    h("td", null, run.schedule_id ?? h("span", { class: "muted" }, run.trigger ?? "manual")),
    h("td", null, run.tenant_id),
    h("td", { class: "nowrap" }, fmtTime(run.started)),
    h("td", { class: "num" }, fmtDuration(run.duration_s)),
    h(
      "td",
      { class: "nowrap" },
      h("span", { class: "count ok", title: "succeeded" }, t.success),
      " / ",
      h("span", { class: "count bad", title: "failed" }, t.failed),
      " / ",
      h("span", { class: "count", title: "total" }, t.total),
    ),
  );
}

function triggerForm(ctx, onDone) {
  const msg = h("span", { class: "muted" });
  const dag = h("input", { name: "dag", placeholder: "DAG name or file", required: true });
  const token = h("input", { type: "password", placeholder: "token", value: ctx.token() });
  return h(
    "form",
    {
      class: "actions",
      onsubmit: async (e) => {
        e.preventDefault();
        ctx.setToken(token.value);
        try {
          const r = await api("/api/runs", {
            method: "POST",
            headers: { authorization: `Bearer ${token.value}`, "content-type": "application/json" },
            body: JSON.stringify({ dag: dag.value }),
          });
          msg.textContent = `started ${r.run_id}`;
          onDone();
        } catch (err) {
          msg.textContent = err.message;
        }
      },
    },
    dag,
    token,
    h("button", { type: "submit" }, "Trigger run"),
    msg,
  );
}

/** The runs list: newest first, filters in the query string, live via SSE. */
export async function renderRuns(root, ctx) {
  const params = new URLSearchParams(location.search);
  const facets = await api("/api/facets");
  const form = h(
    "form",
    { class: "filters" },
    select("status", "Status", STATUSES, params.get("status")),
    select("dag", "DAG", facets.dags, params.get("dag")),
    select("schedule", "Schedule", facets.schedules, params.get("schedule")),
    select("tenant", "Tenant", facets.tenants, params.get("tenant")),
  );
  form.addEventListener("change", () => {
    const q = new URLSearchParams();
    for (const el of form.elements) if (el.value) q.set(el.name, el.value);
    ctx.navigate(`/?${q}`, true);
  });
  const tbody = h("tbody");
  const pager = h("div", { class: "pager" });
  const offset = Number(params.get("offset") ?? 0);
  mount(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Runs"), form),
    ctx.info.actions ? triggerForm(ctx, () => load()) : null,
    h(
      "table",
      { class: "runs" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          [
            "Status",
            "Run",
            "DAG",
            "Schedule",
            "Tenant",
            "Started",
            "Duration",
            "Tasks ok/failed/all",
          ]
            .map((c) => h("th", null, c)),
        ),
      ),
      tbody,
    ),
    pager,
  );

  async function load() {
    const q = new URLSearchParams(params);
    q.set("limit", String(PAGE_SIZE));
    const { runs, total } = await api(`/api/runs?${q}`);
    mount(tbody, runs.map((r) => row(r, ctx)));
    if (runs.length === 0) {
      mount(tbody, h("tr", null, h("td", { colspan: 8, class: "empty" }, "No runs match.")));
    }
    const page = (o) => {
      const p = new URLSearchParams(params);
      p.set("offset", String(o));
      return `/?${p}`;
    };
    mount(
      pager,
      offset > 0
        ? h("a", { href: page(Math.max(0, offset - PAGE_SIZE)), "data-link": true }, "← newer")
        : null,
      h(
        "span",
        { class: "muted" },
        `${total ? offset + 1 : 0}–${offset + runs.length} of ${total}`,
      ),
      offset + runs.length < total
        ? h("a", { href: page(offset + PAGE_SIZE), "data-link": true }, "older →")
        : null,
    );
  }

  await load();
  let timer = null;
  ctx.onLive(() => {
    clearTimeout(timer);
    timer = setTimeout(() => load().catch(() => {}), 150);
  });
  return () => clearTimeout(timer);
}
