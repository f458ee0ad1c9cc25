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
