/**
 * The malformed-input corpus: every file in tests/fixtures/malformed/{dags,schedules} is
 * rejected with the message recorded in its directory's `expected.json` (the first issue
 * line, `<file>` standing for the file and `<corpus>` for tests/fixtures/malformed), with
 * exit code 2, no stack trace, nothing written, and in under a second of loader time.
 *
 * TODO: schedules go through `loadSchedules` in process; run them through the CLI once
 * the scheduler command is merged into this branch.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { formatIssue, loadDag, MAX_DAG_BYTES } from "../../src/dag/mod.ts";
import { OrchestratorError } from "../../src/lib/mod.ts";
import { buildPlan } from "../../src/plan/mod.ts";
import {
  formatScheduleIssue,
  loadSchedules,
  ScheduleValidationError,
} from "../../src/schedule/mod.ts";
import { orch, REPO, sandbox } from "../helpers/cli.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";
import { validateDag } from "../helpers/validate_dag.ts";

const CORPUS = join(REPO, "tests", "fixtures", "malformed");
const STACK = /^\s+at |Stack backtrace/m;
/** Loader time allowed per file (process start-up is not counted). */
const BOUND_MS = 1000;

async function corpus(kind: "dags" | "schedules"): Promise<[string, string][]> {
  const dir = join(CORPUS, kind);
  const expected: Record<string, string> = JSON.parse(
    await Deno.readTextFile(join(dir, "expected.json")),
  );
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".yaml")) files.push(e.name);
  }
  assert.deepEqual(files.sort(), Object.keys(expected).sort(), "expected.json lists every file");
  return files.map((f) => [f, expected[f].replaceAll("<corpus>", CORPUS)]);
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await fn();
  return [value, performance.now() - t0];
}

/** A DAG file over the size limit, generated rather than committed. */
async function writeHugeDag(dir: string): Promise<string> {
  const path = join(dir, "huge.yaml");
  const line = "# " + "x".repeat(1022) + "\n";
  await Deno.writeTextFile(path, "name: d\n" + line.repeat(MAX_DAG_BYTES / line.length + 1));
  return path;
}

Deno.test("malformed DAG corpus: orch validate exits 2 with the expected message for each file", async () => {
  const files = await corpus("dags");
  assert.ok(files.length >= 30);
  const sb = await sandbox();
  try {
    const huge = await writeHugeDag(sb.dir);
    const paths = [...files.map(([f]) => join(CORPUS, "dags", f)), huge];
    const before = [...Deno.readDirSync(sb.dir)].map((e) => e.name).sort();
    const r = await orch(["validate", ...paths], {
      cwd: sb.dir,
      env: { ...sb.env, WORKFLOWS_DIR: FIXTURE_WORKFLOWS },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, "", "no file passed");
    assert.doesNotMatch(r.stderr, STACK);
    const blocks = new Map(
      r.stderr.split(/^FAIL /m).slice(1).map((b) => [b.slice(0, b.indexOf("\n")), b]),
    );
    assert.equal(blocks.size, paths.length);
    for (const [file, want] of files) {
      const path = join(CORPUS, "dags", file);
      const lines = blocks.get(path)?.split("\n").map((l) => l.trim());
      assert.ok(lines?.includes(want.replaceAll("<file>", path)), `${file}:\n${blocks.get(path)}`);
    }
    assert.match(blocks.get(huge)!, /cannot read file: file is \d+ bytes, the limit is 16777216/);
    const after = [...Deno.readDirSync(sb.dir)].map((e) => e.name).sort();
    assert.deepEqual(after, before, "validate wrote nothing (no logs/, no events, no state)");
  } finally {
    await sb.cleanup();
  }
});

Deno.test("malformed DAG corpus: the loader rejects each file in under a second", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "orch_corpus_" });
  const paths = [
    ...(await corpus("dags")).map(([f]) => join(CORPUS, "dags", f)),
    await writeHugeDag(dir),
  ];
  try {
    for (const path of paths) {
      await t.step(path.slice(path.lastIndexOf("/") + 1), async () => {
        const [err, ms] = await timed(() =>
          loadDag(path).then(buildPlan).then(() => null, (e) => e)
        );
        assert.ok(err instanceof OrchestratorError && err.exitCode === 2, String(err));
        assert.ok(ms < BOUND_MS, `took ${Math.round(ms)} ms`);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("malformed schedule corpus: loadSchedules rejects each file with the expected message", async (t) => {
  const files = await corpus("schedules");
  assert.ok(files.length >= 20);
  const cwd = join(CORPUS, "schedules");
  for (const [file, want] of files) {
    await t.step(file, async () => {
      const dir = await Deno.makeTempDir({ prefix: "orch_corpus_" });
      try {
        await Deno.copyFile(join(cwd, file), join(dir, file));
        const load = () => loadSchedules(dir, { cwd, localTimezone: "UTC", validateDag });
        const [err, ms] = await timed(() => load().then(() => null, (e) => e));
        assert.ok(err instanceof ScheduleValidationError, String(err));
        assert.equal(err.exitCode, 2);
        assert.doesNotMatch(err.message, STACK);
        const first = formatScheduleIssue(err.issues[0]).replaceAll(join(dir, file), "<file>");
        assert.equal(first, want.replaceAll(join(dir, file), "<file>"));
        assert.ok(ms < BOUND_MS, `took ${Math.round(ms)} ms`);
        assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [file], "wrote nothing");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
  await t.step("a schedule file over 16 MiB (generated)", async () => {
    const dir = await Deno.makeTempDir({ prefix: "orch_corpus_" });
    try {
      await Deno.writeTextFile(join(dir, "huge.yaml"), "#".repeat(MAX_DAG_BYTES + 1));
      const [err, ms] = await timed(() => loadSchedules(dir, { cwd }).then(() => null, (e) => e));
      assert.ok(err instanceof ScheduleValidationError, String(err));
      assert.match(err.issues[0].message, /^Cannot read file: file is 16777217 bytes/);
      assert.ok(ms < BOUND_MS, `took ${Math.round(ms)} ms`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("malformed corpus: every DAG issue names a line or a field", async () => {
  for (const [file] of await corpus("dags")) {
    const path = join(CORPUS, "dags", file);
    const err = await loadDag(path).then(() => null, (e) => e);
    for (const issue of err?.issues ?? []) {
      const ok = issue.line || issue.path || /name and tasks/.test(issue.message);
      assert.ok(ok, formatIssue(path, issue));
    }
  }
});
