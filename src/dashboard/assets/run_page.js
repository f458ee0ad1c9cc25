import { api, badge, fmtDuration, fmtTime, h, jsonBlock, link, mount } from "./dom.js";
import { drawGraph } from "./graph.js";
import { drawGantt } from "./gantt.js";

function fact(label, value) {
  return value === undefined || value === null || value === ""
    ? null
    : h("div", { class: "fact" }, h("dt", null, label), h("dd", null, value));
}

function taskCard(task, open) {
  const last = task.attempts[task.attempts.length - 1];
  return h(
    "details",
    { class: "task", id: `task-${task.task_id}`, "data-task-id": task.task_id, open },
    h(
      "summary",
      null,
      badge(task.status),
      h("span", { class: "task-id" }, task.task_id),
      h("span", { class: "muted" }, task.workflow_ref ?? ""),
      h(
        "span",
        { class: "muted right" },
        `${task.attempts.length} attempt(s)`,
        last?.duration_s !== undefined ? ` · ${fmtDuration(last.duration_s)}` : "",
      ),
    ),
    task.skip_reason
      ? h(
        "p",
        { class: "muted" },
        `Skipped: ${task.skip_reason}`,
        task.upstream ? ` (upstream ${task.upstream})` : "",
      )
      : null,
    task.error !== undefined ? h("h4", null, "Error") : null,
    task.error !== undefined ? h("pre", { class: "error-text" }, task.error) : null,
    task.params ? h("h4", null, "Params") : null,
    jsonBlock(task.params),
    task.output ? h("h4", null, "Output") : null,
    jsonBlock(task.output, "json output"),
    task.attempts.length > 1 ? h("h4", null, "Attempts") : null,
    task.attempts.length > 1
      ? h(
        "table",
        { class: "attempts" },
        task.attempts.map((a) =>
          h(
            "tr",
            null,
            h("td", null, `#${a.attempt}`),
            h("td", null, badge(a.status)),
            h("td", null, fmtTime(a.started)),
            h("td", { class: "num" }, fmtDuration(a.duration_s)),
            h("td", { class: "error-text" }, a.error ?? ""),
          )
        ),
      )
      : null,
    task.logs.length ? h("h4", null, "Log") : null,
    task.logs.length
      ? h(
        "pre",
        { class: "log" },
        task.logs.map((l) =>
          h(
            "span",
            { class: "log-line" },
            h("span", { class: "muted" }, `${fmtTime(l.timestamp)} #${l.attempt} `),
            l.message,
            "\n",
          )
        ),
      )
      : null,
  );
}

function eventsTable(detail) {
  const skip = new Set([
    "v",
    "timestamp",
    "event",
    "run_id",
    "dag_name",
    "tenant_id",
    "task_id",
    "attempt",
  ]);
  return h(
    "table",
    { class: "events" },
    h(
      "thead",
      null,
      h("tr", null, ["Time", "Event", "Task", "Attempt", "Details"].map((c) => h("th", null, c))),
    ),
    h(
      "tbody",
      null,
      detail.events.map((e) => {
        const rest = Object.fromEntries(Object.entries(e).filter(([k]) => !skip.has(k)));
        const text = JSON.stringify(rest);
        return h(
          "tr",
          null,
          h("td", { class: "nowrap" }, fmtTime(e.timestamp)),
          h("td", null, h("code", null, String(e.event))),
          h("td", null, e.task_id ?? ""),
          h("td", { class: "num" }, e.attempt ?? ""),
          h("td", { class: "details" }, text.length > 300 ? text.slice(0, 300) + "…" : text),
        );
      }),
    ),
  );
}

function retryButton(run, ctx) {
  if (!ctx.info.actions || run.status === "running") return null;
  const msg = h("span", { class: "muted" });
  return h(
    "span",
    null,
    h("button", {
      type: "button",
      onclick: async () => {
        const token = ctx.token() || prompt("Dashboard token") || "";
        ctx.setToken(token);
        try {
          const r = await api(`/api/runs/${encodeURIComponent(run.run_id)}/retry`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}` },
          });
          ctx.navigate(`/runs/${encodeURIComponent(r.run_id)}`);
        } catch (err) {
          msg.textContent = err.message;
        }
      },
    }, "Retry run"),
    msg,
  );
}

/** One run: header, DAG graph, Gantt timeline, tasks, events; refreshed live. */
export async function renderRun(root, runId, ctx) {
  const open = new Set();
  async function load() {
    const d = await api(`/api/runs/${encodeURIComponent(runId)}`);
    for (const el of root.querySelectorAll("details.task[open]")) open.add(el.dataset.taskId);
    for (const el of root.querySelectorAll("details.task:not([open])")) {
      open.delete(el.dataset.taskId);
    }
    const r = d.run;
    mount(
      root,
      h("p", { class: "crumbs" }, link("/", "Runs"), " / ", h("span", { class: "mono" }, r.run_id)),
      h(
        "div",
        { class: "page-head" },
        h("h1", null, r.dag_name, " ", badge(r.status)),
        retryButton(r, ctx),
      ),
      h(
        "dl",
        { class: "facts" },
        fact("Run", h("span", { class: "mono" }, r.run_id)),
        fact("Trigger", r.trigger),
        fact("Schedule", r.schedule_id),
        fact(
          "Retry of",
          r.retry_of ? link(`/runs/${encodeURIComponent(r.retry_of)}`, r.retry_of) : null,
        ),
        fact("Tenant", r.tenant_id),
        fact("Started", fmtTime(r.started)),
        fact("Finished", fmtTime(r.finished)),
        fact("Duration", fmtDuration(r.duration_s)),
        fact(
          "Tasks",
          `${r.tasks.success} ok, ${r.tasks.failed} failed, ${r.tasks.skipped} skipped, ${r.tasks.total} total`,
        ),
      ),
      h(
        "section",
        { class: "panel" },
        h("h2", null, "Graph"),
        drawGraph(d.graph, (id) => {
          const el = document.getElementById(`task-${id}`);
          if (el) {
            el.open = true;
            el.scrollIntoView({ behavior: "smooth", block: "start" });
          }
        }),
      ),
      h("section", { class: "panel" }, h("h2", null, "Timeline"), drawGantt(d)),
      h(
        "section",
        { class: "panel" },
        h("h2", null, "Tasks"),
        d.tasks.map((t) => taskCard(t, open.has(t.task_id) || t.status === "failed")),
      ),
      h(
        "section",
        { class: "panel" },
        h(
          "h2",
          null,
          "Events",
          d.events_truncated ? h("span", { class: "muted" }, " (newest only)") : null,
        ),
        eventsTable(d),
      ),
    );
  }
  await load();
  let timer = null;
  ctx.onLive((name, data) => {
    if (name === "runs" && !data.runs.some((x) => x.run_id === runId)) return;
    clearTimeout(timer);
    timer = setTimeout(() => load().catch(() => {}), 150);
  });
  return () => clearTimeout(timer);
}
