import { fmtDuration, fmtTime, h } from "./dom.js";

/** A timeline of every attempt: one row per task, one bar per attempt. */
export function drawGantt(detail) {
  const t0 = Date.parse(detail.run.started);
  const ends = [Date.parse(detail.run.finished ?? "") || Date.now()];
  for (const t of detail.tasks) {
    for (const a of t.attempts) ends.push(Date.parse(a.finished ?? "") || Date.now());
  }
  const span = Math.max(1, Math.max(...ends) - t0);
  const pct = (ms) => `${Math.max(0, Math.min(100, (ms / span) * 100)).toFixed(3)}%`;
  const rows = detail.tasks.map((t) =>
    h(
      "div",
      { class: "gantt-row" },
      h("div", { class: "gantt-label", title: t.task_id }, t.task_id),
      h(
        "div",
        { class: "gantt-track" },
        t.attempts.map((a) => {
          const start = Date.parse(a.started) - t0;
          const end = (Date.parse(a.finished ?? "") || Date.now()) - t0;
          return h(
            "div",
            {
              class: `gantt-bar status-${a.status}`,
              style: { left: pct(start), width: `max(3px, ${pct(end - start)})` },
              title: `${t.task_id} #${a.attempt} ${a.status} ${fmtDuration((end - start) / 1000)}`,
            },
            `#${a.attempt}`,
          );
        }),
      ),
    )
  );
  return h(
    "div",
    { class: "gantt" },
    rows.length ? rows : h("p", { class: "muted" }, "No attempts yet."),
    h(
      "div",
      { class: "gantt-axis" },
      h("span", null, fmtTime(detail.run.started)),
      h("span", null, `+${fmtDuration(span / 1000)}`),
    ),
  );
}
