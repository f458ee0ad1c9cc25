import assert from "node:assert/strict";
import {
  addToQuarantine,
  quarantinePath,
  readQuarantine,
  releaseFromQuarantine,
} from "../../src/run/quarantine.ts";

const entry = (workflow: string) => ({
  workflow,
  source: `/w/${workflow}.ts`,
  since: "2026-11-26T12:00:00.000Z",
  reason: "RSS 500 MB > ORCH_MEMORY_LIMIT_MB 400",
});

Deno.test("quarantine: add, read, release; beside the state store", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = quarantinePath(`${dir}/logs/state.jsonl`);
    assert.equal(path, `${dir}/logs/state.jsonl.quarantine.json`);
    assert.equal(readQuarantine(path).size, 0, "a missing file is an empty quarantine");
    addToQuarantine(path, [entry("hog"), entry("pig")]);
    addToQuarantine(path, [{ ...entry("hog"), since: "later" }]);
    const q = readQuarantine(path);
    assert.deepEqual([...q.keys()], ["hog", "pig"]);
    assert.equal(q.get("hog")!.since, entry("hog").since, "the first incident is kept");
    assert.deepEqual(releaseFromQuarantine(path, ["hog", "nope"]), ["hog"]);
    assert.deepEqual([...readQuarantine(path).keys()], ["pig"]);
    assert.deepEqual(releaseFromQuarantine(path, "all"), ["pig"]);
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
    assert.deepEqual(releaseFromQuarantine(path, "all"), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readQuarantine() reads a damaged file as empty, with a warning", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/q.json`;
    await Deno.writeTextFile(path, '{"v":1,"workflows":[{"workf');
    const warnings: string[] = [];
    assert.equal(readQuarantine(path, { onWarning: (m) => warnings.push(m) }).size, 0);
    assert.match(warnings[0], /Cannot read quarantine ".*q.json": not JSON/);
    await Deno.writeTextFile(path, '{"workflows":[null,{"workflow":"hog"},{"x":1}]}');
    assert.deepEqual([...readQuarantine(path).keys()], ["hog"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
