import assert from "node:assert/strict";
import { BUILTIN_WORKFLOWS, UnknownWorkflowError, WorkflowRegistry } from "../../mod.ts";
import { REPO } from "../helpers/cli.ts";
import { compareNames } from "../../src/workflows/registry.ts";

Deno.test("WorkflowRegistry.scan() finds .ts and .js plugins; files win over built-ins", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.ts`, "export default {run:()=>({})}");
    await Deno.writeTextFile(`${dir}/b.js`, "export default {run:()=>({})}");
    await Deno.writeTextFile(`${dir}/inbox_drive_sweep.ts`, "export default {run:()=>({})}");
    await Deno.writeTextFile(`${dir}/README.md`, "not a plugin");
    await Deno.writeTextFile(`${dir}/bad name.ts`, "not a valid workflow name");
    const reg = await WorkflowRegistry.scan(dir, Object.keys(BUILTIN_WORKFLOWS));
    assert.deepEqual(reg.names(), [
      "a",
      "b",
      "inbox_drive_sweep",
      "meeting_transcript_brief",
      "weekly_report_pack",
    ]);
    assert.equal(reg.resolve("inbox_drive_sweep").kind, "file");
    assert.equal(reg.resolve("weekly_report_pack").kind, "builtin");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("WorkflowRegistry.resolve() throws UnknownWorkflowError with a did-you-mean", async () => {
  const reg = await WorkflowRegistry.scan("/nonexistent", Object.keys(BUILTIN_WORKFLOWS));
  assert.throws(() => reg.resolve("weekly_report"), (err: unknown) => {
    assert.ok(err instanceof UnknownWorkflowError);
    assert.equal(err.name, "RunnerError");
    assert.equal(
      err.message,
      'Unknown workflow: weekly_report (did you mean "weekly_report_pack"?)',
    );
    assert.equal(err.available.length, 3);
    return true;
  });
});

Deno.test("the built-in manifest lists every file in workflows/ (deno task gen is current)", async () => {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", `${REPO}/tools/gen_manifest.ts`, "--check"],
    stderr: "piped",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
});

Deno.test("compareNames() orders names as localeCompare does, without Intl", () => {
  const names = [
    "b",
    "B",
    "a_b",
    "a-b",
    "ab",
    "A",
    "a",
    "a1",
    "a9",
    "Zeta",
    "alpha",
    "_x",
    "0",
    "x-1",
  ];
  const seeded = [...names];
  // Every pair of short names over the whole alphabet, plus the mixed list above.
  const alphabet = ["a", "A", "b", "Z", "z", "0", "9", "_", "-"];
  for (const x of alphabet) for (const y of alphabet) if (x !== "-") seeded.push(x + y, x + y + x);
  const expected = [...seeded].sort((x, y) => x.localeCompare(y));
  assert.deepEqual([...seeded].sort(compareNames), expected);
});

Deno.test("WorkflowRegistry.names() lists files and built-ins in localeCompare order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const n of ["Zeta", "alpha", "a_b", "a-b", "B2"]) {
      await Deno.writeTextFile(`${dir}/${n}.ts`, "export default { run() {} };\n");
    }
    const reg = await WorkflowRegistry.scan(dir, ["beta", "A"]);
    const names = reg.names();
    assert.deepEqual(names, [...names].sort((x, y) => x.localeCompare(y)));
    assert.deepEqual(names, ["A", "a_b", "a-b", "alpha", "B2", "beta", "Zeta"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
