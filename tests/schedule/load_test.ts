import assert from "node:assert/strict";
import { join } from "node:path";
import {
  loadSchedules,
  type ScheduleIssue,
  ScheduleValidationError,
} from "../../src/schedule/mod.ts";

async function withProject(
  files: Record<string, string>,
  fn: (cwd: string) => Promise<void>,
): Promise<void> {
  const cwd = await Deno.makeTempDir({ prefix: "orch_sched_" });
  try {
    await Deno.mkdir(join(cwd, "schedules"));
    await Deno.mkdir(join(cwd, "dags"));
    await Deno.writeTextFile(join(cwd, "dags", "etl.yaml"), "name: etl\n");
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(join(cwd, "schedules", name), text);
    }
    await fn(cwd);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}

async function issuesOf(cwd: string, options = {}): Promise<ScheduleIssue[]> {
  const err = await loadSchedules(join(cwd, "schedules"), { cwd, ...options }).then(
    () => assert.fail("expected ScheduleValidationError"),
    (e) => e,
  );
  assert.ok(err instanceof ScheduleValidationError, String(err));
  assert.equal(err.exitCode, 2);
  return err.issues;
}

const good = `- id: nightly
  cron: "0 2 * * *"
  dag: dags/etl.yaml
  tenant: local-dev
  enabled: true
`;

Deno.test("loadSchedules() loads entries with defaults and resolved paths", async () => {
  await withProject({
    "a.yaml": good,
    "b.yml": `- id: berlin
  cron: "*/5 * * * *"
  dag: dags/etl.yaml
  tenant: t
  timezone: Europe/Berlin
  params: { limit: 3 }
  overlap: allow
  catchup_window: 1h30m
`,
    "notes.txt": "ignored",
  }, async (cwd) => {
    const schedules = await loadSchedules(join(cwd, "schedules"), {
      cwd,
      localTimezone: "Asia/Tokyo",
    });
    assert.deepEqual(schedules.map((s) => s.id), ["nightly", "berlin"]);
    const [nightly, berlin] = schedules;
    assert.equal(nightly.timezone, "Asia/Tokyo");
    assert.equal(nightly.overlap, "skip");
    assert.equal(nightly.catchupWindowMs, null);
    assert.deepEqual(nightly.params, {});
    assert.equal(nightly.dagPath, join(cwd, "dags", "etl.yaml"));
    assert.deepEqual(nightly.source, {
      file: join(cwd, "schedules", "a.yaml"),
      line: 1,
      column: 3,
    });
    assert.equal(berlin.timezone, "Europe/Berlin");
    assert.equal(berlin.catchupWindowMs, 90 * 60_000);
    assert.deepEqual(berlin.params, { limit: 3 });
    assert.equal(berlin.overlap, "allow");
  });
});

Deno.test("loadSchedules() throws ScheduleValidationError listing every problem with line:column", async () => {
  await withProject({
    "a.yaml": `- id: bad_cron
  cron: "61 * * * *"
  dag: dags/etl.yaml
  tenant: t
- id: typo
  cronn: "* * * * *"
  dag: dags/etl.yaml
  tenant: t
- id: zone
  cron: "* * * * *"
  dag: dags/missing.yaml
  tenant: t
  timezone: Mars/Olympus
  catchup_window: 2 hours
`,
  }, async (cwd) => {
    const issues = await issuesOf(cwd);
    const brief = issues.map((i) => [i.line, i.column, i.scheduleId, i.path]);
    assert.deepEqual(brief, [
      [2, 9, "bad_cron", "cron"],
      [5, 3, "typo", "cron"],
      [6, 3, "typo", "cronn"],
      [11, 8, "zone", "dag"],
      [13, 13, "zone", "timezone"],
      [14, 19, "zone", "catchup_window"],
    ]);
    assert.match(
      issues[0].message,
      /^Invalid cron "61 \* \* \* \*": Invalid value for minute: 61$/,
    );
    assert.equal(issues[1].message, `Missing required key "cron"`);
    assert.equal(issues[2].message, `Unknown key "cronn", did you mean "cron"`);
    assert.equal(issues[3].message, `Cannot find DAG file "${join(cwd, "dags", "missing.yaml")}"`);
    assert.match(issues[4].message, /^Unknown time zone "Mars\/Olympus"/);
    assert.match(issues[5].message, /^Invalid duration "2 hours"/);
  });
});

Deno.test("ScheduleValidationError message names the file, the count and each issue", async () => {
  await withProject({ "a.yaml": good.replace("0 2 * * *", "bad") }, async (cwd) => {
    const file = join(cwd, "schedules", "a.yaml");
    const err = await loadSchedules(join(cwd, "schedules"), { cwd }).catch((e) => e);
    const [head, line] = err.message.split("\n");
    assert.equal(head, `Cannot load schedules "${file}": 1 problem`);
    assert.match(line, new RegExp(`^  ${file}:2:9: schedule "nightly" cron: Invalid cron "bad": `));
  });
});

Deno.test("loadSchedules() reports duplicate ids across files", async () => {
  await withProject({ "a.yaml": good, "b.yaml": "# again\n" + good }, async (cwd) => {
    const issues = await issuesOf(cwd);
    assert.equal(issues.length, 1);
    assert.equal(issues[0].file, join(cwd, "schedules", "b.yaml"));
    assert.deepEqual([issues[0].line, issues[0].column], [2, 7]);
    assert.equal(
      issues[0].message,
      `Duplicate id: first defined at ${join(cwd, "schedules", "a.yaml")}:1:3`,
    );
  });
});

Deno.test("loadSchedules() reports YAML errors, duplicate keys and non-list files", async () => {
  await withProject({
    "a.yaml": "- id: x\n  id: y\n",
    "b.yaml": "id: not-a-list\n",
    "c.yaml": "- [unclosed\n",
  }, async (cwd) => {
    const issues = await issuesOf(cwd);
    assert.deepEqual(issues.map((i) => [i.file.split("/").pop(), i.line]), [
      ["a.yaml", 2],
      ["b.yaml", 1],
      ["c.yaml", 2],
    ]);
    assert.equal(issues[0].message, 'duplicate key "id"');
    assert.equal(issues[1].message, "Expected a list of schedules");
  });
});

Deno.test("loadSchedules() rejects alias bombs", async () => {
  const bomb = [
    "- id: x",
    "  cron: '* * * * *'",
    "  dag: dags/etl.yaml",
    "  tenant: t",
    "  params:",
    "    a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]",
    "    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
    "    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
    "    d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
  ].join("\n");
  await withProject({ "a.yaml": bomb }, async (cwd) => {
    const issues = await issuesOf(cwd);
    assert.equal(issues.length, 1);
    assert.match(issues[0].message, /alias/i);
  });
});

Deno.test("loadSchedules() calls validateDag once per DAG file and reports its problems", async () => {
  await withProject({
    "a.yaml": good + good.replace("nightly", "hourly").replace("0 2", "0 *"),
  }, async (cwd) => {
    const calls: string[] = [];
    const issues = await issuesOf(cwd, {
      validateDag: (path: string) => {
        calls.push(path);
        return Promise.resolve(['Cycle "a" -> "b" -> "a"']);
      },
    });
    assert.deepEqual(calls, [join(cwd, "dags", "etl.yaml")]);
    assert.equal(issues.length, 1);
    assert.equal(issues[0].scheduleId, "nightly");
    assert.match(issues[0].message, /^Invalid DAG ".*etl\.yaml": Cycle "a" -> "b" -> "a"$/);
  });
});

Deno.test("loadSchedules() reports a missing directory", async () => {
  await withProject({}, async (cwd) => {
    const err = await loadSchedules(join(cwd, "nope"), { cwd }).catch((e) => e);
    assert.ok(err instanceof ScheduleValidationError);
    assert.match(err.issues[0].message, /^Cannot read directory: no such directory$/);
  });
});

Deno.test("loadSchedules() reports DAG paths the OS refuses and absurd durations as issues", async () => {
  const entry = (dag: string, extra = "") =>
    `- id: a\n  cron: "* * * * *"\n  dag: ${JSON.stringify(dag)}\n  tenant: t\n${extra}`;
  await withProject({
    "a.yaml": entry("dags/x\0y.yaml"),
    "b.yaml": entry("x".repeat(5000)).replace("id: a", "id: b"),
    "c.yaml": entry("dags/etl.yaml", `  catchup_window: ${"9".repeat(400)}d\n`).replace(
      "id: a",
      "id: c",
    ),
  }, async (cwd) => {
    const issues = await issuesOf(cwd);
    assert.deepEqual(issues.map((i) => [i.scheduleId, i.path]), [
      ["a", "dag"],
      ["b", "dag"],
      ["c", "catchup_window"],
    ]);
    assert.match(issues[0].message, /^Cannot read DAG file ".*\\u0000y\.yaml": .*NUL/);
    assert.match(issues[1].message, /^Cannot read DAG file ".*": File name too long/);
    assert.match(issues[2].message, /^Invalid duration "9{400}d"/);
  });
});
