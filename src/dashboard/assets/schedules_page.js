import { api, badge, fmtTime, h, link, mount } from "./dom.js";

/** Schedules: cron, timezone, next fire times, last run, last skip. */
export async function renderSchedules(root) {
  const { configured, schedules } = await api("/api/schedules");
  mount(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Schedules")),
    !configured ? h("p", { class: "muted" }, "No scheduler is wired to this dashboard.") : h(
      "table",
      { class: "schedules" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          [
            "Schedule",
            "Cron",
            "Timezone",
            "Enabled",
            "DAG",
            "Next fire times",
            "Last run",
            "Last skip",
          ].map((c) => h("th", null, c)),
        ),
      ),
      h(
        "tbody",
        null,
        schedules.map((sc) =>
          h(
            "tr",
            { "data-schedule-id": sc.id },
            h("td", null, link(`/?schedule=${encodeURIComponent(sc.id)}`, sc.id)),
            h("td", { class: "nowrap" }, h("code", null, sc.cron)),
            h("td", null, sc.timezone),
            h("td", null, sc.enabled ? "yes" : h("span", { class: "muted" }, "disabled")),
            h("td", null, sc.dag),
            h(
              "td",
              { class: "nowrap" },
              sc.next_fire_times.slice(0, 3).map((t) => h("div", null, fmtTime(t))),
            ),
            h(
              "td",
              null,
              sc.last_run
                ? [
                  badge(sc.last_run.status),
                  " ",
                  link(
                    `/runs/${encodeURIComponent(sc.last_run.run_id)}`,
                    fmtTime(sc.last_run.started),
                  ),
                ]
                : h("span", { class: "muted" }, "never"),
            ),
            h(
              "td",
              null,
              sc.last_skip
                ? [
                  h("strong", null, sc.last_skip.reason),
                  ` at ${sc.last_skip.minute}`,
                  sc.last_skip.detail ? h("div", { class: "muted" }, sc.last_skip.detail) : null,
                ]
                : "",
            ),
          )
        ),
      ),
    ),
  );
  return null;
}
