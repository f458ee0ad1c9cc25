/**
 * A plugin that allocates without bound (tests/fixtures/workflows/hog.ts), through the real
 * CLI. In a worker thread it cannot be stopped, so the first incident stops orch cleanly
 * (the watchdog, ORCH_MEMORY_LIMIT_MB) and quarantines the workflow; from then on it runs
 * in memory-capped worker processes, where each of its tasks fails alone.
 */
import assert from "node:assert/strict";
import { orch, readEvents, readState, REPO, type Sandbox, sandbox } from "../helpers/cli.ts";
import { dagYaml } from "../helpers/dag.ts";

const FIXTURES = new URL("../fixtures/workflows/", import.meta.url);
/** Low enough to trip fast, above orch's own RSS (~100-170 MB). */
const LIMITS = { ORCH_MEMORY_LIMIT_MB: "400", ORCH_QUARANTINE_MEMORY_MB: "32" };

async function hogSandbox(): Promise<Sandbox> {
  const sb = await sandbox();
  for (const name of ["hog", "echo"]) {
    await sb.write(
      `workflows/${name}.ts`,
      await Deno.readTextFile(new URL(`${name}.ts`, FIXTURES)),
    );
  }
  await sb.write(
    "dag.yaml",
    dagYaml("mem", [
      { id: "a", workflow_ref: "echo", params: { x: 1 } },
      { id: "hog", workflow_ref: "hog" },
      { id: "b", workflow_ref: "echo", depends_on: ["a"] },
      { id: "after_hog", workflow_ref: "echo", depends_on: ["hog"] },
    ]),
  );
  return sb;
}

function assertNoCrash(stderr: string): void {
  assert.doesNotMatch(stderr, /Fatal JavaScript|out of memory: Reached heap limit|C stack trace/);
  assert.doesNotMatch(stderr, /Stack backtrace|^\s+at /m);
}

async function quarantined(sb: Sandbox): Promise<string[]> {
  const text = await Deno.readTextFile(`${sb.state}.quarantine.json`).catch(() => "");
  return text ? JSON.parse(text).workflows.map((w: { workflow: string }) => w.workflow) : [];
}

function taskEnd(events: Record<string, unknown>[], runId: unknown, taskId: string) {
  return events.find((e) =>
    e.run_id === runId && e.task_id === taskId &&
    (e.event === "task_ok" || e.event === "task_fail" || e.event === "task_skipped")
  );
}

Deno.test({
  name: "an allocating plugin: the first incident stops orch run cleanly and quarantines it; " +
    "later runs contain it in a capped process; the quarantine is shown and clearable",
  async fn() {
    const sb = await hogSandbox();
    const env = { ...sb.env, ...LIMITS };
    try {
      // First incident, in a thread: a clean, recorded, explained exit.
      const first = await orch(["run", "--dag", "dag.yaml", "--json"], { cwd: sb.dir, env });
      assert.equal(first.code, 1, first.stderr);
      assertNoCrash(first.stderr);
      assert.match(
        first.stderr,
        /orch: memory limit exceeded, RSS \d+ MB > ORCH_MEMORY_LIMIT_MB 400, while workflow "hog" ran in a worker thread .*quarantined.*orch workflows --unquarantine hog/,
      );
      const result = JSON.parse(first.stdout);
      const hog = result.tasks.find((t: { id: string }) => t.id === "hog");
      assert.match(hog.error, /Workflow "hog" exceeded the memory limit in a worker thread/);
      const finished = (await readState(sb)).filter((e) => e.event === "run_finished");
      assert.equal(finished.length, 1);
      assert.equal(finished[0].status, "failed");
      assert.ok((await readEvents(sb)).some((e) => e.event === "dag_done"), "dag_done recorded");
      assert.deepEqual(await quarantined(sb), ["hog"]);

      // The next run: hog runs in a 32 MB process and fails alone; the rest of the DAG runs.
      const second = await orch(["run", "--dag", "dag.yaml", "--json"], { cwd: sb.dir, env });
      assert.equal(second.code, 1, second.stderr);
      assertNoCrash(second.stderr);
      assert.match(second.stderr, /workflow "hog" is quarantined since .*capped at 32 MB/);
      const r2 = JSON.parse(second.stdout);
      const byId = Object.fromEntries(r2.tasks.map((t: { id: string }) => [t.id, t]));
      assert.match(
        byId.hog.error,
        /Workflow "hog" exceeded its memory limit of 32 MB in a worker process/,
      );
      assert.equal(byId.a.status, "success");
      assert.equal(byId.b.status, "success");
      assert.equal(byId.after_hog.status, "skipped");
      const events = await readEvents(sb);
      const fail = taskEnd(events, r2.run_id, "hog");
      assert.equal(fail?.event, "task_fail");

      // Shown by `orch workflows`, cleared by --unquarantine.
      const list = await orch(["workflows"], { cwd: sb.dir, env });
      assert.match(list.stdout, /hog .*\n {2}quarantined since .*RSS \d+ MB/);
      const json = JSON.parse((await orch(["workflows", "--json"], { cwd: sb.dir, env })).stdout);
      assert.ok(json.find((w: { name: string }) => w.name === "hog").quarantine);
      const release = await orch(["workflows", "--unquarantine", "hog"], { cwd: sb.dir, env });
      assert.equal(release.code, 0);
      assert.match(release.stdout, /Released from quarantine: hog/);
      assert.deepEqual(await quarantined(sb), []);
      const again = await orch(["workflows", "--unquarantine", "hog"], { cwd: sb.dir, env });
      assert.match(again.stdout, /Not quarantined: hog/);
    } finally {
      await sb.cleanup();
    }
  },
});

Deno.test({
  name: "an allocating plugin outside the V8 heap (typed arrays): the RSS watchdog catches it " +
    "in a thread; in its quarantine process the RSS cap kills it",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const sb = await sandbox();
    const env = { ...sb.env, ...LIMITS };
    try {
      await sb.write(
        "workflows/buffer_hog.ts",
        await Deno.readTextFile(new URL("buffer_hog.ts", FIXTURES)),
      );
      await sb.write("dag.yaml", dagYaml("buf", [{ id: "buf", workflow_ref: "buffer_hog" }]));
      const first = await orch(["run", "--dag", "dag.yaml"], { cwd: sb.dir, env });
      assert.equal(first.code, 1, first.stderr);
      assertNoCrash(first.stderr);
      assert.match(first.stderr, /memory limit exceeded.*workflow "buffer_hog"/);
      assert.deepEqual(await quarantined(sb), ["buffer_hog"]);
      // A 32 MB heap cap alone would not stop it (measured: 1 GB of typed arrays).
      const second = await orch(["run", "--dag", "dag.yaml"], { cwd: sb.dir, env });
      assert.equal(second.code, 1, second.stderr);
      assertNoCrash(second.stderr);
      assert.match(
        second.stderr,
        /Workflow "buffer_hog" exceeded its memory limit of 32 MB in a worker process \(killed at RSS \d+ MB, over 32 \+ 256 MB\)/,
      );
    } finally {
      await sb.cleanup();
    }
  },
});

/** Starts `scheduler --serve` (supervised) over schedules `id` of `dag` and more. */
async function serve(
  sb: Sandbox,
  id: string,
  dag: string,
  more: { id: string; dag: string }[] = [],
): Promise<Deno.ChildProcess> {
  await sb.write(
    `sched_${id}/s.yaml`,
    [{ id, dag }, ...more].map((s) =>
      `- {id: ${s.id}, cron: "* * * * *", dag: ${s.dag}, tenant: t, enabled: true}\n`
    ).join(""),
  );
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      `${REPO}/main.ts`,
      "scheduler",
      "--dir",
      `sched_${id}`,
      "--serve",
    ],
    cwd: sb.dir,
    env: { ...sb.env, ...LIMITS, SCHED_MAX_PARALLEL: "3", SCHED_TICK_MS: "200", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** The pid of the serving child of a `scheduler --serve` supervisor, from /proc. */
async function servingPid(supervisor: number): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${supervisor}/task/${supervisor}/children`);
  const pid = Number(text.trim().split(" ")[0]);
  if (!(pid > 0)) throw new Error(`No serving child under ${supervisor}: "${text}"`);
  return pid;
}

/**
 * RSS (MB), threads and runnable threads of a process, from /proc. Threads leave out
 * tokio's: its blocking pool grows and shrinks with file I/O load, not with leaks.
 */
async function measure(pid: number) {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const rssMb = Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
  let threads = 0;
  let runnable = 0;
  for await (const t of Deno.readDir(`/proc/${pid}/task`)) {
    const comm = await Deno.readTextFile(`/proc/${pid}/task/${t.name}/comm`).catch(() => "");
    if (comm && !comm.startsWith("tokio-runtime")) threads++;
    const stat = await Deno.readTextFile(`/proc/${pid}/task/${t.name}/stat`).catch(() => "");
    if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "R") runnable++;
  }
  return { rssMb, threads, runnable };
}

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

Deno.test({
  name: "an allocating async plugin under --serve: the first incident is contained (its threads " +
    "stop), then 100 such tasks in a row fail alone in capped processes; threads and RSS bounded",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const sb = await hogSandbox();
    await sb.write(
      "workflows/async_hog.ts",
      await Deno.readTextFile(new URL("async_hog.ts", FIXTURES)),
    );
    const fine = Array.from({ length: 5 }, (_, i) => ({ id: `fine${i}`, workflow_ref: "echo" }));
    const hogs = Array.from({ length: 100 }, (_, i) => ({
      id: `hog${i}`,
      workflow_ref: "async_hog",
    }));
    await sb.write("hogs.yaml", dagYaml("hogs", [...fine, ...hogs]));
    const child = await serve(sb, "s2", "hogs.yaml");
    try {
      const failed = async (n: number) => {
        const ev = await readEvents(sb).catch(() => []);
        const k = ev.filter((e) => e.event === "task_fail" && e.dag_name === "hogs").length;
        return k >= n ? k : undefined;
      };
      await until("10 hog tasks to fail", 60_000, () => failed(10));
      // The supervisor's serving child: the process that runs the tasks.
      const serving = await servingPid(child.pid);
      const early = await measure(serving);
      const done = await until("the hogs run to finish", 120_000, async () => {
        const ev = await readEvents(sb).catch(() => []);
        return ev.find((e) => e.event === "dag_done" && e.dag_name === "hogs");
      });
      await new Promise((r) => setTimeout(r, 500));
      const late = await measure(serving);
      assert.equal(await servingPid(child.pid), serving, "the serving child was not restarted");
      const alive = await Promise.race([
        child.status.then(() => false),
        new Promise((r) => setTimeout(() => r(true), 200)),
      ]);
      assert.ok(alive, "the scheduler is still serving");
      assert.equal(done.tasks_failed, 100);
      assert.equal(done.tasks_succeeded, 5);
      const errors = (await readEvents(sb))
        .filter((e) => e.event === "task_fail" && e.dag_name === "hogs")
        .map((e) => String(e.error));
      const inThread = errors.filter((e) => /in a worker thread/.test(e)).length;
      const inProcess = errors.filter((e) =>
        /its memory limit of 32 MB in a worker process/.test(e)
      );
      assert.ok(inThread >= 1 && inThread <= 3, `${inThread} failed in threads (pool of 3)`);
      assert.equal(inThread + inProcess.length, 100, errors.join("\n"));
      console.log(
        `100 async hog tasks under --serve: ${inThread} in threads (the incident), ` +
          `${inProcess.length} in 32 MB processes; after 10: RSS ${early.rssMb.toFixed(0)} MB, ` +
          `threads ${early.threads}; after 100 (idle): RSS ${late.rssMb.toFixed(0)} MB, ` +
          `threads ${late.threads}, runnable ${late.runnable}`,
      );
      assert.ok(late.threads <= early.threads + 2, `threads ${early.threads} -> ${late.threads}`);
      assert.ok(late.runnable <= 1, `runnable threads ${late.runnable}`);
      assert.ok(late.rssMb - early.rssMb < 60, `RSS ${early.rssMb} -> ${late.rssMb} MB`);
      assert.ok(late.rssMb < 400, `RSS ${late.rssMb} MB`);
    } finally {
      child.kill("SIGTERM");
      const out = await child.output();
      const stderr = new TextDecoder().decode(out.stderr);
      assertNoCrash(stderr);
      assert.match(stderr, /orch: memory limit exceeded.*workflow "async_hog"/);
      assert.match(stderr, /stopped and its memory was freed .*orch goes on/);
      await sb.cleanup();
    }
  },
});

Deno.test({
  name: "an allocating plugin that never yields, under --serve: the serving child stops " +
    "(exit 5), the supervisor restarts it and stays up, the service keeps ticking, and the " +
    "stopped run is continued once: every task but the culprit succeeds",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const sb = await hogSandbox();
    await sb.write(
      "workflows/flaky.ts",
      await Deno.readTextFile(new URL("flaky.ts", FIXTURES)),
    );
    // `flaky` waits out its retry delay when the stop comes: not in a thread, so not blamed;
    // its run cannot record its end within the drain and is recovered as interrupted.
    await sb.write(
      "mem2.yaml",
      dagYaml("mem2", [
        { id: "a", workflow_ref: "echo", params: { x: 1 } },
        { id: "hog", workflow_ref: "hog" },
        { id: "b", workflow_ref: "echo", depends_on: ["a"] },
        {
          id: "flaky",
          workflow_ref: "flaky",
          params: { fail_times: 1 },
          retries: 1,
          retry_delay_s: 3,
        },
        { id: "after_flaky", workflow_ref: "echo", depends_on: ["flaky"] },
      ]),
    );
    await sb.write("fine.yaml", dagYaml("fine", [{ id: "f", workflow_ref: "echo" }]));
    const t0 = Date.now();
    const child = await serve(sb, "s_hog", "mem2.yaml", [{ id: "s_fine", dag: "fine.yaml" }]);
    let stderr = "";
    const reading = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
    })();
    const exited = child.status.then(() => true);
    const state = () => readState(sb).catch(() => [] as Record<string, unknown>[]);
    try {
      // The first run of s_hog ends with the memory stop; the child restarts.
      const first = await until(
        "the first s_hog run to start",
        60_000,
        async () =>
          (await state()).find((e) => e.event === "run_started" && e.schedule_id === "s_hog"),
      );
      await until(
        "the restart",
        60_000,
        () => Promise.resolve(/restarting it \(1 of at most 5/.test(stderr) ? true : undefined),
      );
      const restartedAt = Date.now() - t0;
      // Its continuation: a retry of it, by the new child, with the culprit capped.
      const cont = await until("the continuation to finish", 60_000, async () => {
        const s = await state();
        const started = s.find((e) => e.event === "run_started" && e.retry_of === first.run_id);
        const end = started && s.find((e) =>
          e.event === "run_finished" &&
          e.run_id === started.run_id
        );
        return end && { started, end };
      });
      const continuedAt = Date.now() - t0;
      assert.equal(cont.started.trigger, "retry");
      assert.notEqual(cont.started.pid, first.pid, "continued by the new serving child");
      assert.equal(cont.end.status, "failed");
      const events = await readEvents(sb);
      const done = events.find((e) => e.event === "dag_done" && e.run_id === cont.started.run_id);
      assert.equal(done?.tasks_succeeded, 4, JSON.stringify(done));
      assert.equal(done?.tasks_failed, 1);
      const hogEnd = taskEnd(events, cont.started.run_id, "hog");
      assert.equal(hogEnd?.event, "task_fail");
      assert.match(String(hogEnd?.error), /exceeded its memory limit of 32 MB in a worker process/);
      // Tasks that succeeded before the stop were reused, not run again.
      const okBefore = events.filter((e) => e.run_id === first.run_id && e.event === "task_ok")
        .map((e) => e.task_id);
      const rerun = events.filter((e) =>
        e.run_id === cont.started.run_id && e.event === "task_start" && okBefore.includes(e.task_id)
      );
      assert.deepEqual(rerun, []);
      assert.deepEqual(await quarantined(sb), ["hog"]);

      // The service keeps ticking: the next minute runs both schedules in the new child,
      // s_hog's culprit failing alone, with no second restart.
      const next = await until("the next minute's runs", 90_000, async () => {
        const s = await state();
        const late = s.filter((e) =>
          e.event === "run_started" && e.trigger === "schedule" && e.pid === cont.started.pid
        );
        const ends = late.map((r) =>
          s.find((e) => e.event === "run_finished" && e.run_id === r.run_id)
        );
        return late.length === 2 && ends.every(Boolean) ? ends : undefined;
      });
      const bySchedule = Object.fromEntries(next.map((e) => [e!.schedule_id, e!.status]));
      assert.deepEqual(bySchedule, { s_fine: "success", s_hog: "failed" });
      assert.equal(stderr.match(/restarting it/g)?.length, 1, stderr);
      assert.equal(
        (await state()).filter((e) => e.event === "run_started" && e.retry_of === first.run_id)
          .length,
        1,
        "one continuation",
      );
      assert.equal(await Promise.race([exited, Promise.resolve(false)]), false, "supervisor up");
      const firstEnd = (await state()).find((e) =>
        e.event === "run_finished" && e.run_id === first.run_id
      );
      console.log(
        `never-yielding hog under the supervisor: first run ${firstEnd?.status} ` +
          `(${
            firstEnd?.reason ?? "recorded in the drain"
          }); restart ${restartedAt} ms after start, ` +
          `continuation done ${continuedAt} ms, next minute served ${Date.now() - t0} ms`,
      );
      child.kill("SIGTERM");
      const status = await child.status;
      await reading;
      assertNoCrash(stderr);
      assert.match(stderr, /orch: the thread of workflows? .*"hog" cannot be stopped .*\(exit 5/);
      assert.match(stderr, /continuing run .*, ended by the memory stop of process \d+/);
      assert.equal(status.code, 0, stderr);
    } catch (err) {
      console.error(stderr);
      throw err;
    } finally {
      if (!(await Promise.race([exited, Promise.resolve(false)]))) child.kill("SIGKILL");
      await child.status;
      await sb.cleanup();
    }
  },
});
