/**
 * The `scheduler --serve` supervisor (src/cli/commands/_supervisor.ts): restart decisions
 * with fake children, then the real CLI for signals and the supervisor's death. The memory
 * incident itself is in tests/faults/supervisor_test.ts.
 */
import assert from "node:assert/strict";
import {
  CONTINUE_ENV,
  type ServeChild,
  superviseServe,
  SUPERVISOR_ENV,
} from "../../src/cli/commands/_supervisor.ts";
import { MEMORY_EXIT_CODE } from "../../src/run/memory_incident.ts";
import { REPO, sandbox } from "../helpers/cli.ts";

/** Children that exit with `codes` in turn; records their env and the signals they got. */
function fakeChildren(codes: number[]) {
  const envs: Record<string, string>[] = [];
  const signals: Deno.Signal[] = [];
  let pid = 100;
  const spawn = (env: Record<string, string>): ServeChild => {
    envs.push(env);
    const code = codes.shift() ?? 0;
    return {
      pid: ++pid,
      status: Promise.resolve({ code, signal: null }),
      kill: (s) => signals.push(s),
    };
  };
  return { envs, signals, spawn };
}

Deno.test("superviseServe() restarts the child after a memory stop and names the stopped one", async () => {
  const { envs, spawn } = fakeChildren([MEMORY_EXIT_CODE, MEMORY_EXIT_CODE, 0]);
  const lines: string[] = [];
  let t = Date.parse("2026-11-26T12:00:00Z");
  const code = await superviseServe({
    spawn,
    stderr: (l) => lines.push(l),
    now: () => (t += 1000),
    onSignals: () => () => {},
  });
  assert.equal(code, 0);
  assert.equal(envs.length, 3);
  assert.deepEqual(envs[0], { [SUPERVISOR_ENV]: "child" });
  assert.equal(envs[1][CONTINUE_ENV], "101@2026-11-26T12:00:01.000Z");
  assert.match(envs[2][CONTINUE_ENV], /^102@/);
  assert.match(
    lines[0],
    /^orch: the serving process 101 stopped after a memory incident \(exit 5\): restarting it \(1 of at most 5 restarts within 60 s\)$/,
  );
});

Deno.test("superviseServe() gives up past 5 restarts within 60 s; older restarts do not count", async (t) => {
  await t.step("6 memory stops in a row: exit 5 with a message", async () => {
    const { envs, spawn } = fakeChildren(Array(10).fill(MEMORY_EXIT_CODE));
    const lines: string[] = [];
    const code = await superviseServe({ spawn, stderr: (l) => lines.push(l), now: () => 0 });
    assert.equal(code, MEMORY_EXIT_CODE);
    assert.equal(envs.length, 6);
    assert.match(lines.at(-1)!, /stopped after a memory incident 6 times within 60 s: giving up/);
  });
  await t.step("one memory stop every 20 s: restarted each time", async () => {
    const { envs, spawn } = fakeChildren([...Array(10).fill(MEMORY_EXIT_CODE), 0]);
    let now = 0;
    const code = await superviseServe({
      spawn,
      stderr: () => {},
      now: () => (now += 10_000),
    });
    assert.equal(code, 0);
    assert.equal(envs.length, 11);
  });
});

Deno.test("superviseServe() ends with any other exit code of the child, and forwards signals", async (t) => {
  for (const exit of [0, 1, 2, 4, 137]) {
    await t.step(`exit ${exit}`, async () => {
      const { envs, spawn } = fakeChildren([exit]);
      assert.equal(await superviseServe({ spawn, stderr: () => {} }), exit);
      assert.equal(envs.length, 1);
    });
  }
  await t.step("a signal: forwarded; a memory stop after it is not restarted", async () => {
    let exit!: (st: { code: number; signal: null }) => void;
    const signals: Deno.Signal[] = [];
    let onSignal!: (sig: Deno.Signal) => void;
    let spawned = 0;
    const done = superviseServe({
      spawn: () => {
        spawned++;
        return { pid: 7, status: new Promise((r) => exit = r), kill: (s) => signals.push(s) };
      },
      stderr: () => {},
      onSignals: (f) => {
        onSignal = f;
        return () => {};
      },
    });
    onSignal("SIGTERM");
    assert.deepEqual(signals, ["SIGTERM"]);
    exit({ code: MEMORY_EXIT_CODE, signal: null });
    assert.equal(await done, MEMORY_EXIT_CODE);
    assert.equal(spawned, 1);
  });
});

/** Starts the real `orch scheduler --serve` (supervised) over a quiet schedule. */
async function serveQuiet() {
  const sb = await sandbox();
  await sb.write(
    "sched/s.yaml",
    `- {id: s, cron: "0 0 1 1 *", dag: dag.yaml, tenant: t, enabled: true}\n`,
  );
  await sb.write(
    "dag.yaml",
    JSON.stringify({ name: "d", tenant_id: "t", tasks: [{ id: "a", workflow_ref: "echo" }] }),
  );
  await sb.write(
    "workflows/echo.ts",
    await Deno.readTextFile(new URL("../fixtures/workflows/echo.ts", import.meta.url)),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `${REPO}/main.ts`, "scheduler", "--dir", "sched", "--serve"],
    cwd: sb.dir,
    env: { ...sb.env, SCHED_TICK_MS: "200", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = { text: "", closed: Promise.resolve() };
  // Read to the end: `closed` settles once every writer (supervisor and serving child) is
  // gone, which can be after `child.status` does; assertions on the last lines await it.
  stderr.closed = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr.text += chunk;
    }
  })();
  // The serving child is the supervisor's only child.
  const serving = await until(async () => {
    const text = await Deno.readTextFile(`/proc/${child.pid}/task/${child.pid}/children`)
      .catch(() => "");
    const pid = Number(text.trim().split(" ")[0]);
    return pid > 0 && /Serving 1 schedule/.test(stderr.text) ? pid : undefined;
  });
  return { sb, child, serving, stderr };
}

async function until<T>(f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("Timed out");
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

Deno.test({
  name: "orch scheduler --serve: a small supervisor; SIGTERM reaches the serving child, exit 0",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const { sb, child, serving, stderr } = await serveQuiet();
    try {
      const rssMb = (pid: number) =>
        Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]) / 1024;
      console.log(
        `supervisor RSS ${rssMb(child.pid).toFixed(0)} MB, serving child ` +
          `${rssMb(serving).toFixed(0)} MB`,
      );
      child.kill("SIGTERM");
      const status = await child.status;
      await stderr.closed;
      assert.equal(status.code, 0, stderr.text);
      assert.equal(stderr.text.match(/Received SIGTERM: stopping the scheduler/g)?.length, 1);
      assert.ok(!alive(serving), "the serving child is gone");
    } finally {
      await sb.cleanup();
    }
  },
});

Deno.test({
  name: "orch scheduler --serve: SIGKILL of the supervisor ends its serving child too",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const { sb, child, serving, stderr } = await serveQuiet();
    try {
      child.kill("SIGKILL");
      await child.status;
      await until(() => Promise.resolve(alive(serving) ? undefined : true), 10_000);
      await stderr.closed;
      assert.match(stderr.text, /the supervisor is gone: exiting at once/);
    } finally {
      await sb.cleanup();
    }
  },
});
