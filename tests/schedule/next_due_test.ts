import assert from "node:assert/strict";
import { nextFireTime } from "../../src/schedule/due.ts";
import {
  isQuietMinute,
  nextDueIndexPath,
  type NextDueSetup,
  parsedDag,
  readNextDue,
  recordQuietTick,
  recordTick,
  setupKey,
  snapshotSetup,
} from "../../src/schedule/next_due.ts";
import { planTick } from "../../src/schedule/tick.ts";
import { testSchedule } from "../helpers/schedule.ts";

const MIN = 60_000;
const at = (iso: string) => new Date(iso);

/** A temp setup: one schedule file, one DAG, one workflow, a state file. */
async function fixture() {
  const root = await Deno.makeTempDir({ prefix: "orch_next_due_" });
  const dir = `${root}/sched`;
  const workflowsDir = `${root}/workflows`;
  await Deno.mkdir(dir);
  await Deno.mkdir(workflowsDir);
  await Deno.writeTextFile(`${dir}/a.yaml`, "- id: a\n");
  await Deno.writeTextFile(`${root}/dag.yaml`, "name: d\n");
  await Deno.writeTextFile(`${workflowsDir}/w.ts`, "export default {};\n");
  await Deno.writeTextFile(`${root}/state.jsonl`, '{"event":"x"}\n');
  const key = setupKey({ version: "1", cwd: root, workflowsDir, sandbox: true });
  const setup: NextDueSetup = { dir, workflowsDir, statePath: `${root}/state.jsonl`, key };
  /** Records a quiet tick at `tick`, next due at `due`. */
  const record = async (tick: string, due: string | null) => {
    const snapshot = await snapshotSetup(setup);
    const dagPaths = [`${root}/dag.yaml`];
    await recordQuietTick(setup, snapshot, {
      at: at(tick),
      dagPaths,
      nextDue: due === null ? null : at(due),
    });
  };
  return { root, setup, record, cleanup: () => Deno.remove(root, { recursive: true }) };
}

Deno.test("isQuietMinute() is false without an index", async () => {
  const f = await fixture();
  try {
    assert.equal(await isQuietMinute(f.setup, at("2026-05-01T10:00:00Z")), false);
  } finally {
    await f.cleanup();
  }
});

Deno.test("isQuietMinute() holds from the recorded minute until the next fire time", async (t) => {
  const f = await fixture();
  try {
    await f.record("2026-05-01T10:00:30Z", "2026-05-01T10:05:00Z");
    const cases: [string, boolean][] = [
      ["2026-05-01T10:00:59Z", true],
      ["2026-05-01T10:04:59.999Z", true],
      ["2026-05-01T10:05:00Z", false], // the clock reached the fire time
      ["2026-05-01T11:30:00Z", false], // and went past it (cron was not called for a while)
      ["2026-05-01T09:59:59Z", false], // the clock went back before the recorded tick
    ];
    for (const [now, quiet] of cases) {
      await t.step(`at ${now}: ${quiet}`, async () => {
        assert.equal(await isQuietMinute(f.setup, at(now)), quiet);
      });
    }
    await t.step("no fire time at all: quiet for good", async () => {
      await f.record("2026-05-01T10:00:30Z", null);
      assert.equal(await isQuietMinute(f.setup, at("2030-01-01T00:00:00Z")), true);
    });
  } finally {
    await f.cleanup();
  }
});

Deno.test("isQuietMinute() is false once anything the tick read changed", async (t) => {
  const now = at("2026-05-01T10:01:00Z");
  const changes: [string, (root: string, setup: NextDueSetup) => Promise<unknown>][] = [
    ["a schedule file edited", (r) => Deno.writeTextFile(`${r}/sched/a.yaml`, "- id: b\n")],
    ["a schedule file added", (r) => Deno.writeTextFile(`${r}/sched/b.yml`, "")],
    ["a schedule file deleted", (r) => Deno.remove(`${r}/sched/a.yaml`)],
    ["the schedules directory deleted", (r) => Deno.remove(`${r}/sched`, { recursive: true })],
    ["the DAG file edited", (r) => Deno.writeTextFile(`${r}/dag.yaml`, "name: e\n")],
    ["the DAG file deleted", (r) => Deno.remove(`${r}/dag.yaml`)],
    ["a workflow added", (r) => Deno.writeTextFile(`${r}/workflows/v.ts`, "")],
    ["a workflow edited", (r) => Deno.writeTextFile(`${r}/workflows/w.ts`, "export {};\n")],
    [
      "an event appended to the state file",
      (r) => Deno.writeTextFile(`${r}/state.jsonl`, '{"event":"y"}\n', { append: true }),
    ],
    ["the state file deleted", (r) => Deno.remove(`${r}/state.jsonl`)],
    ["a corrupt index", (_r, s) => Deno.writeTextFile(nextDueIndexPath(s.statePath), "{")],
  ];
  for (const [name, change] of changes) {
    await t.step(name, async () => {
      const f = await fixture();
      try {
        await f.record("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z");
        assert.equal(await isQuietMinute(f.setup, now), true);
        await change(f.root, f.setup);
        assert.equal(await isQuietMinute(f.setup, now), false);
      } finally {
        await f.cleanup();
      }
    });
  }
  await t.step("a file that is not a schedule file added: still quiet", async () => {
    const f = await fixture();
    try {
      await f.record("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z");
      await Deno.writeTextFile(`${f.root}/sched/README.md`, "notes");
      assert.equal(await isQuietMinute(f.setup, now), true);
    } finally {
      await f.cleanup();
    }
  });
  await t.step("another version, time zone or directory (the key) differs", async () => {
    const f = await fixture();
    try {
      await f.record("2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z");
      const parts = {
        version: "1",
        cwd: f.root,
        workflowsDir: f.setup.workflowsDir,
        sandbox: true,
      };
      assert.equal(setupKey(parts), f.setup.key);
      const other = (key: string) => isQuietMinute({ ...f.setup, key }, now);
      assert.equal(await other(setupKey({ ...parts, version: "2" })), false);
      assert.equal(await other(setupKey({ ...parts, sandbox: false })), false);
      const tz = Deno.env.get("TZ");
      Deno.env.set("TZ", tz === "Asia/Tokyo" ? "Europe/Berlin" : "Asia/Tokyo");
      try {
        assert.equal(await other(setupKey(parts)), false);
      } finally {
        if (tz === undefined) Deno.env.delete("TZ");
        else Deno.env.set("TZ", tz);
      }
    } finally {
      await f.cleanup();
    }
  });
});

Deno.test("nextFireTime() is the first fire time of any schedule, disabled ones included", () => {
  const schedules = [
    testSchedule("a", { cron: "0 * * * *" }),
    testSchedule("b", { cron: "30 10 * * *", enabled: false }),
  ];
  assert.equal(
    nextFireTime(schedules, at("2026-05-01T10:12:40Z"))?.toISOString(),
    "2026-05-01T10:30:00.000Z",
  );
  assert.equal(
    nextFireTime(schedules, at("2026-05-01T10:30:10Z"))?.toISOString(),
    "2026-05-01T11:00:00.000Z",
  );
  assert.equal(nextFireTime([], at("2026-05-01T10:30:10Z")), null);
});

Deno.test("nextFireTime() follows DST in the schedule's zone", () => {
  // America/New_York springs forward at 2026-03-08 02:00 -> 03:00: 02:30 runs at 03:00 EDT.
  const gap = [testSchedule("g", { cron: "30 2 * * *", timezone: "America/New_York" })];
  assert.equal(
    nextFireTime(gap, at("2026-03-08T06:10:00Z"))?.toISOString(),
    "2026-03-08T07:00:00.000Z",
  );
  // Europe/Berlin falls back at 2026-10-25 03:00 -> 02:00: an interval job fires twice at 02:30.
  const rep = [testSchedule("r", { cron: "30 2 * * *", timezone: "Europe/Berlin" })];
  assert.equal(
    nextFireTime(rep, at("2026-10-24T23:40:00Z"))?.toISOString(),
    "2026-10-25T00:30:00.000Z",
  );
});

Deno.test("a quiet minute by nextFireTime() is a minute in which planTick() finds nothing", () => {
  // Every minute over two DST changes: while the index says quiet, a full tick with the
  // watermarks of the recorded tick would enqueue and skip nothing; at the first minute it
  // does not say so, the full tick does find work.
  const schedules = [
    testSchedule("ny", { cron: "30 2 * * *", timezone: "America/New_York" }),
    testSchedule("be", { cron: "*/45 2 * * *", timezone: "Europe/Berlin" }),
    testSchedule("off", { cron: "15 4 * * *", enabled: false }),
    testSchedule("late", { cron: "50 1 * * *", catchupWindowMs: 3 * 3_600_000 }),
  ];
  for (
    const [from, to] of [["2026-03-07T20:00Z", "2026-03-08T12:00Z"], [
      "2026-10-24T20:00Z",
      "2026-10-25T12:00Z",
    ]]
  ) {
    let tick = Date.parse(from);
    let next = nextFireTime(schedules, new Date(tick));
    let checked = 0;
    for (let t = tick + MIN; t < Date.parse(to); t += MIN) {
      const now = new Date(t + 7_000);
      const watermarks = new Map(schedules.map((s) => [s.id, new Date(tick)]));
      const plan = planTick({
        schedules,
        watermarks,
        enqueuedKeys: new Set(),
        runningBySchedule: new Map(),
        now,
      });
      const quiet = next === null || t < next.getTime();
      const idle = plan.enqueue.length === 0 && plan.skip.length === 0;
      if (quiet) assert.ok(idle, `quiet at ${now.toISOString()} but planTick found work`);
      else {
        // Only an enabled schedule's fire time makes work; a disabled one just ends the span.
        const byEnabled = schedules.filter((s) => s.enabled);
        if (nextFireTime(byEnabled, new Date(tick))?.getTime() === t) assert.ok(!idle);
        tick = t; // the full tick records a new quiet span from here
        next = nextFireTime(schedules, now);
        checked++;
      }
    }
    assert.ok(checked >= 3, `only ${checked} fire times between ${from} and ${to}`);
  }
});

Deno.test("readNextDue() gives back the recorded schedules while their inputs are unchanged", async (t) => {
  const f = await fixture();
  const s = [
    testSchedule("a", { dagPath: `${f.root}/dag.yaml`, params: { n: 1, list: ["x"] } }),
    testSchedule("b", { dagPath: `${f.root}/dag.yaml`, cron: "0 3 * * *", enabled: false }),
  ];
  const record = async (quiet: boolean, schedules = s) => {
    const snapshot = await snapshotSetup(f.setup);
    await recordTick(f.setup, snapshot, {
      at: at("2026-05-01T10:00:20Z"),
      quiet,
      schedules: schedules.map((schedule, i) => ({
        schedule,
        dagName: `dag_${i}`,
        next: i === 0 ? at("2026-05-01T10:01:00Z") : null,
      })),
    });
  };
  try {
    await t.step("schedules, DAG names and next fire times round-trip", async () => {
      await record(true);
      const next = await readNextDue(f.setup, at("2026-05-01T10:00:50Z"));
      assert.ok(next?.known);
      assert.deepEqual(next.known.schedules, s);
      assert.deepEqual([...next.known.dagNames], [["a", "dag_0"], ["b", "dag_1"]]);
      assert.deepEqual(next.known.fires, {
        at: at("2026-05-01T10:00:00Z"),
        next: new Map([["a", at("2026-05-01T10:01:00Z")], ["b", null]]),
      });
      assert.equal(next.quiet, true);
      const due = await readNextDue(f.setup, at("2026-05-01T10:01:00Z"));
      assert.equal(due?.quiet, false, "a fire time reached: not quiet");
      assert.ok(due?.known, "but the schedules still hold");
      assert.equal(await readNextDue(f.setup, at("2026-05-01T09:59:00Z")), null, "clock went back");
    });
    await t.step("a tick that was not quiet is never quiet, its schedules still hold", async () => {
      await record(false);
      const next = await readNextDue(f.setup, at("2026-05-01T10:00:50Z"));
      assert.equal(next?.quiet, false);
      assert.ok(next?.known);
    });
    await t.step("a changed state file ends quiet minutes, not the schedules", async () => {
      await record(true);
      await Deno.writeTextFile(f.setup.statePath, '{"event":"y"}\n', { append: true });
      const next = await readNextDue(f.setup, at("2026-05-01T10:00:50Z"));
      assert.equal(next?.quiet, false);
      assert.ok(next?.known);
    });
    await t.step("a changed schedule file, DAG or workflow: nothing holds", async () => {
      for (
        const change of [
          () => Deno.writeTextFile(`${f.setup.dir}/a.yaml`, "- id: b\n"),
          () => Deno.writeTextFile(`${f.root}/dag.yaml`, "name: e\n"),
          () => Deno.writeTextFile(`${f.setup.workflowsDir}/v.ts`, "export default {};\n"),
        ]
      ) {
        await record(true);
        await change();
        assert.equal(await readNextDue(f.setup, at("2026-05-01T10:00:50Z")), null);
      }
    });
    await t.step("params that are not plain JSON are not recorded", async () => {
      await record(true, [testSchedule("a", { params: { when: new Date(0) } })]);
      const next = await readNextDue(f.setup, at("2026-05-01T10:00:50Z"));
      assert.equal(next?.known, null);
      assert.equal(next?.quiet, true);
    });
  } finally {
    await f.cleanup();
  }
});

Deno.test("recordTick() keeps small DAGs parsed from the bytes it digested, while they hold", async (t) => {
  const f = await fixture();
  const dagPath = `${f.root}/dag.yaml`;
  const schedules = [{ schedule: testSchedule("a", { dagPath }), dagName: "d", next: null }];
  const parseDag = (source: string, file: string) => ({
    name: source.trim(),
    dagId: "d",
    tenantId: "t",
    tasks: [],
    file,
  });
  const now = at("2026-05-01T10:00:50Z");
  const tick = { at: at("2026-05-01T10:00:20Z"), quiet: false, schedules };
  try {
    await t.step("parsed on the full path, given back with the file's real path", async () => {
      await recordTick(f.setup, await snapshotSetup(f.setup), { ...tick, parseDag });
      const known = (await readNextDue(f.setup, now))?.known;
      assert.ok(known);
      const dag = await parsedDag(known, dagPath);
      assert.equal(dag?.name, "name: d");
      assert.equal(dag?.file, await Deno.realPath(dagPath));
    });
    await t.step("kept by a later tick while the DAG files are unchanged", async () => {
      const known = (await readNextDue(f.setup, now))!.known!;
      await recordTick(f.setup, await snapshotSetup(f.setup), { ...tick, keep: known });
      const again = (await readNextDue(f.setup, now))?.known;
      assert.equal((await parsedDag(again!, dagPath))?.name, "name: d");
    });
    await t.step("not kept once a DAG file changed during the tick", async () => {
      const known = (await readNextDue(f.setup, now))!.known!;
      await Deno.writeTextFile(dagPath, "name: e\n");
      await recordTick(f.setup, await snapshotSetup(f.setup), { ...tick, keep: known });
      const again = (await readNextDue(f.setup, now))?.known;
      assert.ok(again);
      assert.equal(await parsedDag(again, dagPath), undefined);
    });
    await t.step("not used once the path resolves to another file", async () => {
      await recordTick(f.setup, await snapshotSetup(f.setup), { ...tick, parseDag });
      const known = (await readNextDue(f.setup, now))!.known!;
      await Deno.rename(dagPath, `${f.root}/other.yaml`);
      await Deno.symlink(`${f.root}/other.yaml`, dagPath);
      assert.equal(await parsedDag(known, dagPath), undefined);
    });
  } finally {
    await f.cleanup();
  }
});
