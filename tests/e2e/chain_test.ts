import assert from "node:assert/strict";
import { orch, readEvents, REPO, sandbox } from "../helpers/cli.ts";
import { dagYaml, type TaskYaml } from "../helpers/dag.ts";

/**
 * A chain link: depth one more than its upstream's, its process id, and the upstream keys
 * it saw; waits `ms` (abortably) when given; touches `<marks>/<task>` when it starts.
 */
const LINK = `export default {
  run(params, ctx) {
    if (params.marks) Deno.writeTextFileSync(params.marks + "/" + ctx.taskId, "");
    let depth = 0;
    for (const [k, v] of Object.entries(params)) {
      if (k.endsWith("__depth") && typeof v === "number" && v > depth) depth = v;
    }
    const out = { depth: depth + 1, pid: Deno.pid, keys: Object.keys(params).sort() };
    if (!params.ms) return out;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => resolve(out), params.ms);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(t);
        reject(new Error("aborted"));
      });
    });
  },
};
`;

function chain(n: number, ref: (i: number) => string, params = {}): TaskYaml[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `t${i}`,
    workflow_ref: ref(i),
    params,
    ...(i ? { depends_on: [`t${i - 1}`] } : {}),
  }));
}

/** In the events file: each link starts after its predecessor's task_ok, once. */
function assertChainOrder(events: Record<string, unknown>[]): void {
  const starts = events.filter((e) => e.event === "task_start");
  for (const s of starts) {
    const k = Number(String(s.task_id).slice(1));
    if (k === 0) continue;
    const ok = events.findIndex((e) => e.event === "task_ok" && e.task_id === `t${k - 1}`);
    assert.ok(ok >= 0 && ok < events.indexOf(s), `task_ok t${k - 1} before task_start t${k}`);
  }
  assert.equal(new Set(starts.map((s) => s.task_id)).size, starts.length);
}

Deno.test("orch run: a chain's events are in chain order and every link gets its upstream's output", async () => {
  const sb = await sandbox();
  try {
    await sb.write("workflows/link.js", LINK);
    // A process-isolated link in the middle: a continuation never crosses into it.
    await sb.write(
      "workflows/far.js",
      LINK.replace("export default {", 'export default {\n  isolation: "process",'),
    );
    const n = 200;
    const dag = await sb.write("c.yaml", dagYaml("c", chain(n, (i) => i === 100 ? "far" : "link")));
    const run = await orch(["run", "--dag", dag, "--json"], {
      cwd: sb.dir,
      env: { ...sb.env, SCHED_MAX_PARALLEL: "2" },
    });
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    const tasks = result.tasks as {
      id: string;
      output: { depth: number; pid: number; keys: string[] };
    }[];
    tasks.forEach((t, i) => {
      assert.equal(t.output.depth, i + 1, `depth of ${t.id}`);
      if (i) {
        assert.deepEqual(t.output.keys, [`t${i - 1}__depth`, `t${i - 1}__keys`, `t${i - 1}__pid`]);
      }
    });
    assert.notEqual(tasks[100].output.pid, tasks[99].output.pid, "t100 ran in a process");
    assert.equal(tasks[101].output.pid, tasks[99].output.pid, "t101 back in a thread");
    const events = await readEvents(sb);
    assertChainOrder(events);
    assert.equal(events.filter((e) => e.event === "task_ok").length, n);
  } finally {
    await sb.cleanup();
  }
});

Deno.test({
  name: "orch run: SIGINT mid-chain cancels it; no link starts after the cancel",
  ignore: Deno.build.os === "windows",
  async fn() {
    const sb = await sandbox();
    try {
      const marks = `${sb.dir}/marks`;
      await Deno.mkdir(marks);
      const permissions = `permissions: { write: [${JSON.stringify(marks)}] },`;
      await sb.write("workflows/link.js", LINK.replace("export default {", `$&\n  ${permissions}`));
      const dag = await sb.write(
        "c.yaml",
        dagYaml("c", chain(40, () => "link", { marks, ms: 300 })),
      );
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", `${REPO}/main.ts`, "run", "--dag", dag, "--json"],
        cwd: sb.dir,
        env: { ...sb.env, SCHED_MAX_PARALLEL: "2", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // Links touch a mark as they start: cancel while the fourth runs.
      let started = 0;
      for (let i = 0; i < 1000 && started < 4; i++) {
        await new Promise((r) => setTimeout(r, 10));
        started = 0;
        for await (const _ of Deno.readDir(marks)) started++;
      }
      child.kill("SIGINT");
      const out = await child.output();
      assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
      await new Promise((r) => setTimeout(r, 300));
      const events = await readEvents(sb);
      assertChainOrder(events);
      assert.equal(events.at(-1)?.event, "dag_done");
      assert.equal(events.at(-1)?.status, "cancelled");
      const startedIds = events.filter((e) => e.event === "task_start").map((e) => e.task_id);
      const ran: string[] = [];
      for await (const f of Deno.readDir(marks)) ran.push(f.name);
      // Every link that ran in a worker was recorded as started; none ran after the cancel.
      assert.deepEqual(ran.sort(), [...startedIds].sort() as string[]);
      assert.ok(startedIds.length >= 4 && startedIds.length < 40, `${startedIds.length} started`);
      const skipped = events.filter((e) => e.event === "task_skipped");
      assert.equal(skipped.length + startedIds.length, 40);
    } finally {
      await sb.cleanup();
    }
  },
});
