import assert from "node:assert/strict";
import { orch, REPO, sandbox } from "../helpers/cli.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";

const SEED_DAG = `${REPO}/configs/dags/weekly_ops_chain.min.yaml`;

Deno.test("orch validate lists every file's verdict and exits 2 when one is bad", async () => {
  const sb = await sandbox();
  try {
    const bad = await sb.write("bad.yaml", "name: b\ntasks:\n  - id: a\n");
    const good = await sb.write("good.yaml", dagYaml("g", [{ id: "a", workflow_ref: "echo" }]));
    const env = { ...sb.env, WORKFLOWS_DIR: FIXTURE_WORKFLOWS };
    const ok = await orch(["validate", good, SEED_DAG], { cwd: sb.dir, env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(
      ok.stdout,
      /^OK .*good\.yaml: DAG 'g', 1 tasks\nOK .*weekly_ops_chain\.min\.yaml: DAG 'weekly_ops_chain', 3 tasks\n$/,
    );
    const r = await orch(["validate", good, bad], { cwd: sb.dir, env });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /FAIL .*bad\.yaml\nDagValidationError: .*\n {2}.*bad\.yaml:3:5: task "a": workflow_ref must be a string/,
    );
  } finally {
    await sb.cleanup();
  }
});

Deno.test("orch workflows lists built-ins and plugins with description and params", async () => {
  const sb = await sandbox();
  try {
    await Deno.copyFile(`${FIXTURE_WORKFLOWS}/typed.ts`, `${sb.workflows}/typed.ts`);
    const r = await orch(["workflows"], { cwd: sb.dir, env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^inbox_drive_sweep {2}\(built-in\)\n {2}Inbox\/drive prioritization/m);
    assert.match(r.stdout, /start_date: string \(date\), required - First day, YYYY-MM-DD/);
    assert.match(
      r.stdout,
      /^typed {2}\(.*typed\.ts\)\n {2}Needs a count\n {2}params:\n {4}count: integer, required/m,
    );
    const j = await orch(["workflows", "--json"], { cwd: sb.dir, env: sb.env });
    const names = JSON.parse(j.stdout).map((w: { name: string }) => w.name);
    assert.deepEqual(names, [
      "inbox_drive_sweep",
      "meeting_transcript_brief",
      "typed",
      "weekly_report_pack",
    ]);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("orch graph prints mermaid edges and dot", async () => {
  const sb = await sandbox();
  try {
    const m = await orch(["graph", "--dag", SEED_DAG], { cwd: sb.dir, env: sb.env });
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /^graph TD\n/);
    assert.match(m.stdout, /\n {2}sweep --> report\n {2}report --> brief\n$/);
    const d = await orch(["graph", "--dag", SEED_DAG, "--format", "dot"], {
      cwd: sb.dir,
      env: sb.env,
    });
    assert.match(d.stdout, /^digraph "weekly_ops_chain" \{/);
    assert.match(d.stdout, / {2}"sweep" -> "report";\n/);
    const bad = await orch(["graph", "--dag", SEED_DAG, "--format", "png"], {
      cwd: sb.dir,
      env: sb.env,
    });
    assert.equal(bad.code, 2);
  } finally {
    await sb.cleanup();
  }
});

Deno.test("every command has --help, and --version prints the version", async () => {
  const sb = await sandbox();
  try {
    const top = await orch(["--help"], { cwd: sb.dir, env: sb.env });
    assert.equal(top.code, 0);
    const commands = [...top.stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]);
    assert.ok(commands.length >= 4 && commands.includes("run"), top.stdout);
    for (const c of commands) {
      const r = await orch([c, "--help"], { cwd: sb.dir, env: sb.env });
      assert.equal(r.code, 0, `${c} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: orch ${c}`), c);
    }
    const v = await orch(["--version"], { cwd: sb.dir, env: sb.env });
    assert.match(v.stdout, /^orch \d+\.\d+\.\d+\n$/);
  } finally {
    await sb.cleanup();
  }
});
