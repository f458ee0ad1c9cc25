import assert from "node:assert/strict";
import { jsonlOnly } from "../helpers/backend.ts";
import { orch, readEvents, sandbox } from "../helpers/cli.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";

const STACK = /^\s+at |Stack backtrace/m;

Deno.test("bad input exits 2 with one clear message, starts nothing and writes no event", async (t) => {
  const sb = await sandbox();
  const env = { ...sb.env, WORKFLOWS_DIR: FIXTURE_WORKFLOWS };
  const cases: [string, string, RegExp][] = [
    [
      "yaml syntax",
      "name: [\n",
      /DagValidationError: Invalid DAG ".*d\.yaml": 1 problem\n {2}.*d\.yaml:2:1: Flow sequence/,
    ],
    [
      "cycle",
      dagYaml("my_dag", [
        { id: "a", workflow_ref: "echo", depends_on: ["b"] },
        { id: "b", workflow_ref: "echo", depends_on: ["a"] },
      ]),
      /^CycleDetectedError: Cycle detected in DAG 'my_dag': (a -> b -> a|b -> a -> b)\nHint: Remove circular dependencies in depends_on\n$/,
    ],
    [
      "unknown workflow",
      dagYaml("u", [{ id: "a", workflow_ref: "invalid_workflow" }]),
      /^RunnerError: Unknown workflow: invalid_workflow\nHint: Available workflows: .*echo.*\n$/,
    ],
    [
      "unknown workflow with did-you-mean",
      dagYaml("u", [{ id: "a", workflow_ref: "ecko" }]),
      /^RunnerError: Unknown workflow: ecko \(did you mean "echo"\?\)\n/,
    ],
    [
      "params rejected by the workflow's schema",
      dagYaml("p", [{ id: "t", workflow_ref: "typed", params: { count: "x" } }]),
      /^ParamsInvalidError: Invalid params in DAG "p": 1 problem\n {2}task "t": params\.count: /,
    ],
    [
      "plugin without run",
      dagYaml("n", [{ id: "t", workflow_ref: "no_run" }]),
      /^WorkflowLoadError: Cannot load workflow "no_run" from ".*no_run\.ts": the default export must be an object with a run\(\) function\n$/,
    ],
    [
      "unknown key and wrong type together",
      "name: z\ntasks:\n  - id: a\n    workflow_ref: echo\n    retrys: 2\n    timeout_s: -1\n",
      /2 problems\n.*:5:5: task "a": unknown key "retrys"; did you mean "retries"\?\n.*:6:16: task "a": timeout_s must be > 0\n$/,
    ],
    ["binary junk", "\u0000\u0001\u0002\uFFFD\n", /DagValidationError: Invalid DAG/],
  ];
  try {
    for (const [name, text, want] of cases) {
      await t.step(name, async () => {
        const dag = await sb.write("d.yaml", text);
        const r = await orch(["run", "--dag", dag], { cwd: sb.dir, env });
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, want);
        assert.doesNotMatch(r.stderr, STACK);
        assert.equal(r.stdout, "");
        assert.equal((await readEvents(sb)).length, 0);
      });
    }
    await t.step("missing file", async () => {
      const r = await orch(["run", "--dag", "nope.yaml"], { cwd: sb.dir, env });
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        /Invalid DAG ".*nope\.yaml": 1 problem\n {2}.*: cannot read file: file not found/,
      );
    });
    await t.step("usage errors", async () => {
      for (const args of [["run"], ["run", "--bogus"], ["frobnicate"], ["run", "--dag"]]) {
        const r = await orch(args, { cwd: sb.dir, env });
        assert.equal(r.code, 2, args.join(" "));
        assert.match(r.stderr, /^UsageError: .+\nHint: Run 'orch .*--help' for usage\n$/);
      }
    });
    await t.step("bad SCHED_MAX_PARALLEL", async () => {
      const dag = await sb.write("ok.yaml", dagYaml("ok", [{ id: "a", workflow_ref: "echo" }]));
      const r = await orch(["run", dag], { cwd: sb.dir, env: { ...env, SCHED_MAX_PARALLEL: "0" } });
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        /^ConfigError: Cannot read SCHED_MAX_PARALLEL="0": expected a whole number >= 1\n$/,
      );
    });
  } finally {
    await sb.cleanup();
  }
});

Deno.test({
  name: "an unwritable events path fails before any task runs, without a stack trace",
  ignore: jsonlOnly("about the events file; on PostgreSQL events go to the events table"),
}, async () => {
  const sb = await sandbox();
  try {
    await sb.write("blocker", "a file where a directory should be");
    const dag = await sb.write("d.yaml", dagYaml("w", [{ id: "a", workflow_ref: "echo" }]));
    const env = {
      ...sb.env,
      WORKFLOWS_DIR: FIXTURE_WORKFLOWS,
      ORCH_EVENTS_PATH: `${sb.dir}/blocker/events.jsonl`,
    };
    const r = await orch(["run", "--dag", dag], { cwd: sb.dir, env });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /^LogWriteError: Cannot write log ".*blocker\/events\.jsonl": /);
    assert.doesNotMatch(r.stderr, STACK);
    assert.equal(r.stdout, "");
  } finally {
    await sb.cleanup();
  }
});

Deno.test({
  name: "a full disk stops the run at the first failed write, reported once, exit 4",
  ignore: Deno.build.os !== "linux" ||
    jsonlOnly("ORCH_EVENTS_PATH=/dev/full; on PostgreSQL events go to the events table"),
  async fn() {
    const sb = await sandbox();
    try {
      const dag = await sb.write(
        "d.yaml",
        dagYaml("full", [
          { id: "a", workflow_ref: "sleep", params: { ms: 50 } },
          { id: "b", workflow_ref: "echo", depends_on: ["a"] },
        ]),
      );
      // /dev/full accepts open() and fails every write with ENOSPC.
      const env = { ...sb.env, WORKFLOWS_DIR: FIXTURE_WORKFLOWS, ORCH_EVENTS_PATH: "/dev/full" };
      const r = await orch(["run", "--dag", dag, "--quiet"], { cwd: sb.dir, env });
      assert.equal(r.code, 4);
      assert.equal(r.stdout, "");
      const lines = r.stderr.split("\n").filter((l) => l.startsWith("LogWriteError:"));
      assert.deepEqual(lines, [
        'LogWriteError: Cannot write log "/dev/full": No space left on device (os error 28)',
      ]);
      const state = await Deno.readTextFile(sb.state);
      const finished = state.split("\n").filter(Boolean).map((l) => JSON.parse(l))
        .find((e) => e.event === "run_finished");
      assert.equal(finished?.status, "cancelled");
      assert.equal(finished?.tasks_succeeded, 0);
    } finally {
      await sb.cleanup();
    }
  },
});
