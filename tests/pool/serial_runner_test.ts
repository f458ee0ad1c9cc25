import assert from "node:assert/strict";
import { SerialJobRunner } from "../../src/pool/_serial_runner.ts";
import { WorkflowLoader } from "../../src/pool/_workflow_loader.ts";
import type { FromWorker, JobRequest } from "../../src/pool/protocol.ts";

Deno.test("SerialJobRunner reports a finished job before it waits on a slow async one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/quick.ts`, "export default { run: () => ({ q: 1 }) };\n");
    await Deno.writeTextFile(
      `${dir}/slow.ts`,
      "export default { run: () => (globalThis as any).__gate.then(() => ({ s: 1 })) };\n",
    );
    let open!: () => void;
    (globalThis as { __gate?: Promise<void> }).__gate = new Promise<void>((r) => open = r);
    const posted: FromWorker[] = [];
    const runner = new SerialJobRunner(new WorkflowLoader({}), (m) => posted.push(m));
    const src = (name: string) => ({
      kind: "file" as const,
      name,
      path: `${dir}/${name}.ts`,
      url: `file://${dir}/${name}.ts`,
    });
    const job = (id: number, name: string): JobRequest => ({
      id,
      source: src(name),
      params: {},
      runId: "r",
      taskId: `t${id}`,
      attempt: 1,
    });
    runner.handle({ type: "preload", source: src("quick") });
    runner.handle({ type: "preload", source: src("slow") });
    await new Promise((r) => setTimeout(r, 50));
    const sources = [src("quick"), src("slow")];
    const jobs = [job(1, "quick"), job(2, "slow")].map(({ source: _, ...j }, s) => ({ ...j, s }));
    const texts = jobs.map((j) => JSON.stringify(j));
    runner.handle({
      type: "jobs",
      sources: JSON.stringify(sources),
      jobs: `[${texts.join(",")}]`,
      lengths: texts.map((t) => t.length),
    });
    const results = () =>
      posted.flatMap((m) => m.type === "report" ? m.ended.filter((_, k) => k % 4 === 0) : []);
    assert.deepEqual(results(), [1], "the quick result is posted while the slow job waits");
    open();
    for (let i = 0; i < 50 && results().length < 2; i++) {
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.deepEqual(results(), [1, 2]);
  } finally {
    delete (globalThis as { __gate?: unknown }).__gate;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SerialJobRunner gives each attempt a ctx whose members work destructured", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/ctx.ts`,
      `export default {
        run(_: unknown, { runId, taskId, attempt, log, signal }: any) {
          log("from a detached log");
          log(42);
          return { runId, taskId, attempt, aborted: signal.aborted, isSignal: signal instanceof AbortSignal };
        },
      };\n`,
    );
    const posted: FromWorker[] = [];
    const runner = new SerialJobRunner(new WorkflowLoader({}), (m) => posted.push(m));
    const source = {
      kind: "file" as const,
      name: "ctx",
      path: `${dir}/ctx.ts`,
      url: `file://${dir}/ctx.ts`,
    };
    runner.handle({ type: "preload", source });
    await new Promise((r) => setTimeout(r, 50));
    const texts = [7, 8].map((id) =>
      JSON.stringify({ id, s: 0, params: {}, runId: "run-1", taskId: `t${id}`, attempt: id - 6 })
    );
    runner.handle({
      type: "jobs",
      sources: JSON.stringify([source]),
      jobs: `[${texts.join(",")}]`,
      lengths: texts.map((t) => t.length),
    });
    for (let i = 0; i < 100 && !posted.some((m) => m.type === "report"); i++) {
      await new Promise((r) => setTimeout(r, 1));
    }
    const reports = posted.filter((m) => m.type === "report");
    const outputs = reports.map((m) => m.outputs).join("");
    assert.equal(
      outputs,
      '{"runId":"run-1","taskId":"t7","attempt":1,"aborted":false,"isSignal":true}' +
        '{"runId":"run-1","taskId":"t8","attempt":2,"aborted":false,"isSignal":true}',
    );
    const logs = reports.flatMap((m) => m.logs.map((l) => [l.id, l.message]));
    assert.deepEqual(logs, [[7, "from a detached log"], [7, "42"], [8, "from a detached log"], [
      8,
      "42",
    ]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
