import assert from "node:assert/strict";
import { orch, readEvents, sandbox } from "../helpers/cli.ts";
import { dagYaml } from "../helpers/dag.ts";

const PLUGINS: Record<string, string> = {
  reader:
    `export default { run: () => ({ text: Deno.readTextFileSync("/etc/hostname").trim() }) };`,
  reader_ok: `export default { permissions: { read: ["/etc/hostname"] },
    run: () => ({ text: Deno.readTextFileSync("/etc/hostname").trim() }) };`,
  netter: `export default { async run() { await fetch("http://127.0.0.1:65531/"); return {}; } };`,
  echo_secret: `export default { permissions: { env: ["ORCH_TEST_SECRET"] },
    run: (p) => { console.log("token is", p.token); return { echoed: p.token }; } };`,
  echo_undeclared: `export default { run: (p) => ({ echoed: p.token }) };`,
  exiter: `export default { run() { Deno.exit(3); } };`,
  closer: `export default { run() { self.close(); return {}; } };`,
  late_throw:
    `export default { run: () => new Promise(() => { setTimeout(() => { throw new Error("late"); }, 5); }) };`,
  late_reject:
    `export default { run: () => new Promise(() => { Promise.reject(new Error("nobody catches")); }) };`,
  never: `export default { run: () => new Promise(() => {}) };`,
  chatty:
    `export default { run() { for (let i = 0; i < 5000; i++) console.log("line " + i); return { ok: true }; } };`,
  fine: `export default { run: () => ({ fine: true }) };`,
};

async function setup() {
  const sb = await sandbox();
  for (const [name, code] of Object.entries(PLUGINS)) {
    await sb.write(`workflows/${name}.ts`, code + "\n");
  }
  return sb;
}

type Task = { id: string; status: string; error?: string; output?: Record<string, unknown> };

async function run(
  sb: Awaited<ReturnType<typeof setup>>,
  tasks: Parameters<typeof dagYaml>[1],
  env = {},
) {
  const dag = await sb.write(`d${Math.random()}.yaml`, dagYaml("sb", tasks));
  const r = await orch(["run", "--dag", dag, "--json"], {
    cwd: sb.dir,
    env: { ...sb.env, ORCH_TEST_SECRET: "hunter2-very-secret", ...env },
  });
  const out = JSON.parse(r.stdout);
  return {
    r,
    byId: Object.fromEntries(out.tasks.map((t: Task) => [t.id, t])) as Record<string, Task>,
  };
}

Deno.test("plugins get only the permissions they declare; a denial names what to declare", async () => {
  const sb = await setup();
  try {
    const { r, byId } = await run(sb, [
      { id: "r", workflow_ref: "reader" },
      { id: "ok", workflow_ref: "reader_ok" },
      { id: "n", workflow_ref: "netter" },
    ]);
    assert.equal(r.code, 1);
    assert.match(
      byId.r.error!,
      /Workflow "reader" needs read access to "\/etc\/hostname": declare it in permissions\.read$/,
    );
    assert.equal(byId.ok.status, "success");
    assert.match(
      byId.n.error!,
      /Workflow "netter" needs net access to "127\.0\.0\.1:65531": declare it in permissions\.net$/,
    );
    const off = await run(sb, [{ id: "r", workflow_ref: "reader" }], { ORCH_SANDBOX: "off" });
    assert.equal(off.byId.r.status, "success");
  } finally {
    await sb.cleanup();
  }
});

Deno.test("${env:NAME} secrets resolve for declared names and never reach the logs", async () => {
  const sb = await setup();
  try {
    const { r, byId } = await run(sb, [
      { id: "s", workflow_ref: "echo_secret", params: { token: "Bearer ${env:ORCH_TEST_SECRET}" } },
      { id: "u", workflow_ref: "echo_undeclared", params: { token: "${env:ORCH_TEST_SECRET}" } },
    ]);
    assert.equal(r.code, 1);
    assert.deepEqual(byId.s.output, { echoed: "Bearer ***" });
    assert.match(
      byId.u.error!,
      /needs env access to "ORCH_TEST_SECRET": declare it in permissions\.env/,
    );
    const text = JSON.stringify(await readEvents(sb));
    assert.equal(text.includes("hunter2"), false, "the secret must not be in the event log");
    assert.equal(r.stdout.includes("hunter2"), false);
    const events = await readEvents(sb);
    const start = events.find((e) => e.event === "task_start" && e.task_id === "s")!;
    assert.deepEqual(start.params, { token: "Bearer ${env:ORCH_TEST_SECRET}" });
    const log = events.find((e) => e.event === "task_log" && e.task_id === "s")!;
    assert.equal(log.message, "token is Bearer ***");
  } finally {
    await sb.cleanup();
  }
});

Deno.test("a misbehaving plugin fails only its own task; the run and process go on", async () => {
  const sb = await setup();
  try {
    const names = ["exiter", "closer", "late_throw", "late_reject", "never", "chatty"];
    const tasks = names.map((n) => ({
      id: n,
      workflow_ref: n,
      ...(n === "never" ? { timeout_s: 0.5 } : {}),
    }));
    // A task after each misbehaving one proves the worker (or its replacement) still works.
    const after = names.map((n) => ({ id: `after_${n}`, workflow_ref: "fine" }));
    const { r, byId } = await run(sb, [...tasks, ...after], { SCHED_MAX_PARALLEL: "2" });
    assert.equal(r.code, 1);
    assert.match(byId.exiter.error!, /Deno\.exit\(\) is not allowed in a workflow/);
    assert.match(byId.closer.error!, /close\(\) is not allowed in a workflow/);
    assert.match(byId.late_throw.error!, /Uncaught in workflow: late/);
    assert.match(byId.late_reject.error!, /Uncaught in workflow: nobody catches/);
    assert.match(byId.never.error!, /Attempt timed out after 0\.5s/);
    assert.equal(byId.chatty.status, "success");
    for (const n of names) assert.equal(byId[`after_${n}`].status, "success", n);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    const logs = (await readEvents(sb)).filter((e) =>
      e.event === "task_log" && e.task_id === "chatty"
    );
    assert.equal(logs.length, 1001);
    assert.equal(logs.at(-1)!.message, "(more log lines dropped after 1000)");
  } finally {
    await sb.cleanup();
  }
});
