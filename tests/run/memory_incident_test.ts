import assert from "node:assert/strict";
import {
  isMemoryStopError,
  MEMORY_EXIT_CODE,
  memoryIncidentHandler,
} from "../../src/run/memory_incident.ts";
import { readQuarantine } from "../../src/run/quarantine.ts";

const suspect = (name: string, taskId: string) => ({
  source: { kind: "file" as const, name, path: `/w/${name}.ts`, url: `file:///w/${name}.ts` },
  runId: "r1",
  taskId,
  attempt: 1,
});

Deno.test("memoryIncidentHandler() quarantines and explains; contained goes on; stuck exits after the drain", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/q.json`;
    const lines: string[] = [];
    const exits: number[] = [];
    const applied: string[] = [];
    const h = memoryIncidentHandler({
      quarantinePath: path,
      stderr: (l) => lines.push(l),
      exit: (code) => exits.push(code),
      now: () => new Date("2026-11-26T12:00:00Z"),
      drainMs: 60,
      rssBytes: () => 0,
      onQuarantined: (entries) => applied.push(...entries.map((e) => e.workflow)),
    });
    const incident = {
      rssMb: 412.4,
      limitMb: 400,
      suspects: [suspect("hog", "t1"), suspect("hog", "t2")],
    };
    const message = h.onExceeded(incident);
    assert.equal(
      message,
      'Workflow "hog" exceeded the memory limit in a worker thread (RSS 412 MB > ORCH_MEMORY_LIMIT_MB 400); quarantined: its later attempts run in a memory-capped worker process',
    );
    assert.deepEqual(applied, ["hog", "hog"]);
    assert.equal(lines.length, 1);
    assert.match(
      lines[0],
      /^orch: memory limit exceeded, RSS 412 MB > ORCH_MEMORY_LIMIT_MB 400, while workflow "hog" ran in a worker thread \(run r1, task "t1"; run r1, task "t2"\): the attempt failed; quarantined: .*\(undo: orch workflows --unquarantine hog\)$/,
    );
    const q = readQuarantine(path);
    assert.deepEqual([...q.keys()], ["hog"]);
    assert.equal(q.get("hog")!.source, "/w/hog.ts");
    assert.equal(q.get("hog")!.since, "2026-11-26T12:00:00.000Z");

    h.onContained!(incident);
    assert.match(lines[1], /^orch: the thread of workflow "hog" stopped and its memory was freed/);
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(exits, [], "contained: no exit");

    h.onStuck(incident);
    assert.match(
      lines[2],
      /^orch: the thread of workflow "hog" cannot be stopped .*stops \(exit 5 after the drain\); 'orch retry RUN_ID' continues a run it ended/,
    );
    assert.deepEqual(exits, [], "the runs get the drain to record their end");
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(exits, [MEMORY_EXIT_CODE]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("memoryIncidentHandler() exits at once near the heap limit; reports an unwritable quarantine", async () => {
  const lines: string[] = [];
  const exits: number[] = [];
  const h = memoryIncidentHandler({
    quarantinePath: "/proc/nope/q.json",
    stderr: (l) => lines.push(l),
    exit: (code) => exits.push(code),
    drainMs: 10_000,
    criticalMb: 1000,
    rssBytes: () => 2000 * 2 ** 20,
  });
  const incident = { rssMb: 500, limitMb: 400, suspects: [suspect("a", "x"), suspect("b", "y")] };
  h.onExceeded(incident);
  assert.match(
    lines[0],
    /while workflows "a", "b" ran .*could not write the quarantine "\/proc\/nope\/q.json"/,
  );
  h.onStuck(incident);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(exits, [MEMORY_EXIT_CODE]);
});

Deno.test("isMemoryStopError() knows the culprit's error and the jobs the stop cancelled", () => {
  assert.ok(isMemoryStopError(
    'Workflow "hog" exceeded the memory limit in a worker thread (RSS 417 MB > ' +
      "ORCH_MEMORY_LIMIT_MB 400); quarantined: its later attempts run in a memory-capped process",
  ));
  assert.ok(isMemoryStopError("Cancelled: orch is stopping (memory limit exceeded)"));
  assert.ok(
    !isMemoryStopError('Workflow "hog" exceeded its memory limit of 32 MB in a worker process'),
  );
  assert.ok(!isMemoryStopError("Cancelled: scheduler stopped by SIGTERM"));
});
