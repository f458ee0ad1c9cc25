import assert from "node:assert/strict";
import { InlinePool, prepareRun, WorkflowRegistry } from "../../mod.ts";
import type { Dag } from "../../src/dag/types.ts";
import type { TaskPool } from "../../src/pool/task_pool.ts";
import { InspectionCache } from "../../src/workflows/inspection_cache.ts";

const PLUGIN = "export default { permissions: { env: ['HOME'] }, run: () => ({ ok: 1 }) };\n";

function dagOf(params: Record<string, unknown>, workflowRef = "wf"): Dag {
  return {
    name: "d",
    tenantId: "t",
    tasks: [{ id: "a", workflowRef, dependsOn: [], params }],
  } as unknown as Dag;
}

/** An InlinePool that counts the inspections it is asked for. */
function countingPool(): { pool: TaskPool; asked: () => number } {
  const pool = new InlinePool({ size: 1 });
  let n = 0;
  const inspect = pool.inspect.bind(pool);
  pool.inspect = (requests) => {
    n += requests.length;
    return inspect(requests);
  };
  return { pool, asked: () => n };
}

Deno.test("InspectionCache: prepareRun() skips the inspection only while nothing it depends on changed", async (t) => {
  const dir = await Deno.makeTempDir();
  const cachePath = `${dir}/state.jsonl.inspected.json`;
  const { pool, asked } = countingPool();
  const scan = () => WorkflowRegistry.scan(`${dir}/wf`, []);
  /** One prepareRun with the cache as saved on disk, saved again after. */
  const prepare = async (params: Record<string, unknown>, options: {
    version?: string;
    registry?: WorkflowRegistry;
    ref?: string;
  } = {}) => {
    const inspected = await InspectionCache.load(cachePath, options.version ?? "1.0.0");
    const registry = options.registry ?? await scan();
    const before = asked();
    try {
      const prepared = await prepareRun(dagOf(params, options.ref), { registry, pool, inspected });
      return { inspections: asked() - before, prepared };
    } finally {
      await inspected.save();
    }
  };
  try {
    await Deno.mkdir(`${dir}/wf`);
    await Deno.writeTextFile(`${dir}/wf/wf.ts`, PLUGIN);

    await t.step("first inspected, then taken from the cache with the same outcome", async () => {
      const first = await prepare({ n: 1 });
      assert.equal(first.inspections, 1);
      const again = await prepare({ n: 1 });
      assert.equal(again.inspections, 0);
      assert.deepEqual(again.prepared.sources, first.prepared.sources);
      assert.deepEqual(again.prepared.plan, first.prepared.plan);
    });
    await t.step("other params are inspected", async () => {
      assert.equal((await prepare({ n: 2 })).inspections, 1);
      assert.equal((await prepare({ n: 2 })).inspections, 0);
    });
    await t.step("another orch version is inspected", async () => {
      assert.equal((await prepare({ n: 1 }, { version: "1.0.1" })).inspections, 1);
    });
    await t.step("an edited plugin file (mtime, size) is inspected", async () => {
      await prepare({ n: 1 }); // back on 1.0.0
      assert.equal((await prepare({ n: 1 })).inspections, 0);
      await Deno.writeTextFile(`${dir}/wf/wf.ts`, PLUGIN.replace("ok: 1", "ok: 22"));
      assert.equal((await prepare({ n: 1 })).inspections, 1);
      assert.equal((await prepare({ n: 1 })).inspections, 0);
    });
    await t.step(
      "a plugin replaced by another file (same size and mtime) is inspected",
      async () => {
        const old = await Deno.stat(`${dir}/wf/wf.ts`);
        await Deno.writeTextFile(`${dir}/wf/new.tmp`, PLUGIN.replace("ok: 1", "ok: 33"));
        await Deno.utime(`${dir}/wf/new.tmp`, old.atime!, old.mtime!);
        await Deno.rename(`${dir}/wf/new.tmp`, `${dir}/wf/wf.ts`);
        assert.equal((await prepare({ n: 1 })).inspections, 1, "new inode");
      },
    );
    await t.step("other sandbox settings are inspected", async () => {
      const registry = await WorkflowRegistry.scan(`${dir}/wf`, [], {
        sandbox: { cwd: dir, baseRead: [dir] },
      });
      assert.equal((await prepare({ n: 1 }, { registry })).inspections, 1);
      assert.equal((await prepare({ n: 1 }, { registry })).inspections, 0);
    });
    await t.step("a failed inspection is not remembered", async () => {
      await Deno.writeTextFile(
        `${dir}/wf/bad.ts`,
        "export default { permissions: 'all', run() {} };\n",
      );
      for (let i = 0; i < 2; i++) {
        const before = asked();
        await assert.rejects(() => prepare({}, { ref: "bad" }), /permissions: expected an object/);
        assert.equal(asked() - before, 1);
      }
    });
    await t.step("built-in workflows are not remembered", async () => {
      const registry = new WorkflowRegistry(new Map([["b", { kind: "builtin", name: "b" }]]));
      const inspected = await InspectionCache.load(cachePath, "1.0.0");
      assert.equal(inspected.get(registry, registry.resolve("b"), [{}]), undefined);
      inspected.remember(registry, registry.resolve("b"), [{}], { name: "b", issues: [[]] });
      assert.equal(inspected.get(registry, registry.resolve("b"), [{}]), undefined);
    });
    await t.step("an unreadable cache file is an empty cache", async () => {
      await Deno.writeTextFile(cachePath, "{not json");
      assert.equal((await prepare({ n: 1 })).inspections, 1);
      assert.equal((await prepare({ n: 1 })).inspections, 0);
    });
  } finally {
    await pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});
