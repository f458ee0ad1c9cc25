import assert from "node:assert/strict";
import type { ScheduleInfo, WorkflowInfo } from "../../src/dashboard/mod.ts";
import { fixtureApp, getJson, RUN } from "./_helpers.ts";

const SCHEDULES: ScheduleInfo[] = [
  {
    id: "weekly_ops",
    cron: "*/5 * * * *",
    timezone: "Europe/Paris",
    enabled: true,
    dag: "configs/dags/weekly_ops_chain.min.yaml",
    tenant: "local-dev",
    nextFireTimes: ["2026-03-01T11:05:00.000Z", "2026-03-01T11:10:00.000Z"],
  },
  {
    id: "nightly",
    cron: "0 2 * * *",
    timezone: "UTC",
    enabled: false,
    dag: "nightly_backup",
    nextFireTimes: [],
    lastSkip: { minute: "2026-03-01T02:00", reason: "disabled", at: "2026-03-01T02:00:00Z" },
  },
];

Deno.test("GET /api/schedules fills last run and last skip from the state store", async () => {
  const { app, done } = await fixtureApp({ schedulesProvider: () => Promise.resolve(SCHEDULES) });
  try {
    const { status, body } = await getJson(app, "/api/schedules");
    assert.equal(status, 200);
    assert.equal(body.configured, true);
    const [weekly, nightly] = body.schedules;
    assert.deepEqual(weekly.next_fire_times, SCHEDULES[0].nextFireTimes);
    assert.deepEqual(weekly.last_run, {
      run_id: RUN.scheduled,
      status: "success",
      started: "2026-03-01T09:00:00.100Z",
    });
    assert.equal(weekly.last_skip.reason, "overlap");
    assert.equal(weekly.last_skip.detail, "previous run still running");
    assert.equal(nightly.last_run.status, "interrupted");
    assert.equal(nightly.last_skip.reason, "disabled", "the provider's value wins");
    assert.equal(nightly.enabled, false);
  } finally {
    await done();
  }
});

Deno.test("GET /api/schedules is empty without a provider and 502 when it fails", async () => {
  const none = await fixtureApp();
  try {
    assert.deepEqual((await getJson(none.app, "/api/schedules")).body, {
      configured: false,
      schedules: [],
    });
  } finally {
    await none.done();
  }
  const failing = await fixtureApp({
    schedulesProvider: () => Promise.reject(new Error("cannot read configs/schedules")),
  });
  try {
    const { status, body } = await getJson(failing.app, "/api/schedules");
    assert.equal(status, 502);
    assert.match(body.error.message, /cannot read configs\/schedules/);
  } finally {
    await failing.done();
  }
});

Deno.test("GET /api/workflows lists the provider's workflows", async () => {
  const workflows: WorkflowInfo[] = [
    {
      name: "inbox_drive_sweep",
      description: "Inbox/drive prioritization",
      params: { type: "object" },
    },
  ];
  const { app, done } = await fixtureApp({ workflowsProvider: () => Promise.resolve(workflows) });
  try {
    const { body } = await getJson(app, "/api/workflows");
    assert.deepEqual(body, { configured: true, workflows });
  } finally {
    await done();
  }
});

Deno.test("GET /api/facets lists DAGs, schedules and tenants", async () => {
  const { app, done } = await fixtureApp();
  try {
    const { body } = await getJson(app, "/api/facets");
    assert.deepEqual(body, {
      dags: ["etl", "nightly_backup", "weekly_ops_chain"],
      schedules: ["nightly", "weekly_ops"],
      tenants: ["acme", "local-dev"],
    });
  } finally {
    await done();
  }
});
