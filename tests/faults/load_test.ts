/**
 * Load: 200 schedules due in the same minute under `scheduler --serve` with
 * SCHED_MAX_PARALLEL=3 (all run, none twice, lag reported), and five schedulers ticking
 * at once over ten minutes of simulated time, in one process (five `Scheduler`s, each
 * with its own `StateStore` handle) and as five processes: exactly one run per
 * schedule-minute, judged from the state file.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { ManualClock } from "../../mod.ts";
import { REPO, type Sandbox, sandbox } from "../helpers/cli.ts";
import { dagYaml } from "../helpers/dag.ts";
import { FIXTURE_WORKFLOWS } from "../helpers/engine.ts";
import {
  checkEventLog,
  checkStateInvariants,
  FAULT_SEED,
  type Line,
  percentiles,
  seeded,
  strictJsonl,
} from "./_fault.ts";
import { fireMinutes, SIM_END, SIM_SCHEDULES, SIM_START, simScheduler } from "./_sim.ts";

const SCHEDULES = 200;
const MINUTE = 60_000;

function floorMinute(ms: number): number {
  return Math.floor(ms / MINUTE) * MINUTE;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Most runs whose [run_started, run_finished] intervals overlap at one instant. */
function peakConcurrency(state: Line[]): number {
  const edges: [number, number][] = [];
  for (const e of state) {
    if (e.event === "run_started") edges.push([Date.parse(String(e.timestamp)), 1]);
    if (e.event === "run_finished") edges.push([Date.parse(String(e.timestamp)), -1]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, now += d);
  return peak;
}

Deno.test(`scheduler --serve runs ${SCHEDULES} schedules due in one minute, each once, 3 at a time`, async () => {
  const sb = await sandbox();
  try {
    await sb.write(
      "dags/one.yaml",
      dagYaml("one", [{ id: "a", workflow_ref: "echo", params: { x: 1 } }]),
    );
    // A cron that matches one minute only, the next one; the scheduler starts about 8 s
    // before it (start-up validates 200 schedules), so the lag is measured from the minute.
    const target = new Date(floorMinute(Date.now() + 8_000) + MINUTE);
    await new Promise((r) => setTimeout(r, Math.max(0, target.getTime() - 8_000 - Date.now())));
    const cron = `${target.getUTCMinutes()} ${target.getUTCHours()} * * *`;
    const entries = Array.from({ length: SCHEDULES }, (_, i) =>
      `- ${
        JSON.stringify({
          id: `load_${String(i).padStart(3, "0")}`,
          cron,
          dag: "dags/one.yaml",
          tenant: "t",
          timezone: "UTC",
        })
      }`);
    await sb.write("sched/s.yaml", entries.join("\n") + "\n");
    const spawned = performance.now();
    const upS = ((target.getTime() - Date.now()) / 1000).toFixed(1);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        "--config",
        `${REPO}/deno.json`,
        `${REPO}/main.ts`,
        "scheduler",
      ]
        .concat(["--dir", "sched", "--serve"]),
      cwd: sb.dir,
      env: {
        ...sb.env,
        WORKFLOWS_DIR: FIXTURE_WORKFLOWS,
        SCHED_MAX_PARALLEL: "3",
        SCHED_TICK_MS: "200",
        NO_COLOR: "1",
      },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const finishedCount = async () =>
      (await strictJsonl(sb.state).catch(() => [])).filter((e) => e.event === "run_finished")
        .length;
    await waitFor(async () => (await finishedCount()) >= SCHEDULES, 90_000);
    const allDoneS = (performance.now() - spawned) / 1000;
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 0, await stderr);

    const state = await strictJsonl(sb.state);
    checkStateInvariants(state);
    checkEventLog(await strictJsonl(sb.events));
    const enq = state.filter((e) => e.event === "schedule_enqueued");
    assert.equal(enq.length, SCHEDULES, "every schedule enqueued once");
    assert.equal(new Set(enq.map((e) => e.schedule_id)).size, SCHEDULES);
    assert.ok(enq.every((e) => e.minute_utc === target.toISOString()), "all for the one minute");
    assert.equal(state.filter((e) => e.event === "schedule_skipped").length, 0);
    const started = state.filter((e) => e.event === "run_started");
    const finished = state.filter((e) => e.event === "run_finished");
    assert.equal(started.length, SCHEDULES);
    assert.ok(finished.every((e) => e.status === "success"));
    const peak = peakConcurrency(state);
    assert.ok(peak <= 3, `peak ${peak} runs at once`);

    const at = (e: Line) => Date.parse(String(e.timestamp));
    const enqAt = new Map(enq.map((e) => [e.run_id, at(e)]));
    const lag = percentiles(started.map((e) => at(e) - target.getTime()));
    const wait = percentiles(started.map((e) => at(e) - enqAt.get(e.run_id)!));
    const firstTick = Math.min(...enq.map(at)) - target.getTime();
    assert.ok(firstTick >= 0 && firstTick < 5_000, `first tick ${firstTick} ms after the minute`);
    const span = (Math.max(...finished.map(at)) - Math.min(...started.map(at))) / 1000;
    console.log(
      `scheduler spawned ${upS} s before the minute, first tick ${firstTick} ms after it; minute -> run_started p50 ${lag.p50} ms, ` +
        `p95 ${lag.p95} ms, max ${lag.max} ms; enqueue -> run_started p50 ${wait.p50} ms, ` +
        `p95 ${wait.p95} ms, max ${wait.max} ms; ${SCHEDULES} runs in ${span.toFixed(1)} s ` +
        `(${(SCHEDULES / span).toFixed(0)} runs/s), peak ${peak} at once; ` +
        `all finished ${allDoneS.toFixed(1)} s after spawn`,
    );
  } finally {
    await sb.cleanup();
  }
});

/**
 * Checks exactly once from the state file: for every simulated schedule, the enqueued
 * minutes are exactly its fire times in [SIM_START, SIM_END], and each ran once, successfully.
 */
function checkExactlyOnce(state: Line[]): number {
  checkStateInvariants(state);
  assert.equal(state.filter((e) => e.event === "schedule_skipped").length, 0, "nothing skipped");
  for (const s of SIM_SCHEDULES) {
    const got = state.filter((e) => e.event === "schedule_enqueued" && e.schedule_id === s.id)
      .map((e) => String(e.minute_utc)).sort();
    assert.deepEqual(got, fireMinutes(s, SIM_START, SIM_END), `schedule ${s.id}`);
  }
  const finished = state.filter((e) => e.event === "run_finished");
  assert.ok(finished.every((e) => e.status === "success"), "every run succeeded");
  return finished.length;
}

async function withFiles(fn: (sb: Sandbox) => Promise<void>): Promise<void> {
  const sb = await sandbox();
  try {
    await fn(sb);
  } finally {
    await sb.cleanup();
  }
}

Deno.test(`five Scheduler instances over one state file, ten simulated minutes: one run per schedule-minute (seed ${FAULT_SEED})`, async () => {
  await withFiles(async (sb) => {
    const random = seeded(FAULT_SEED);
    const clocks = Array.from({ length: 5 }, () => new ManualClock(SIM_START));
    const sims = await Promise.all(
      clocks.map((c) => simScheduler({ state: sb.state, events: sb.events }, c)),
    );
    const started = performance.now();
    let ticks = 0;
    try {
      // All five race on the first minute, then tick in random subsets every 2–25
      // simulated seconds, each up to 3 s off the others; one stalls for 3 minutes.
      let t = SIM_START.getTime();
      while (t < SIM_END.getTime()) {
        const stalled = t > SIM_START.getTime() + 2 * MINUTE &&
          t < SIM_START.getTime() + 5 * MINUTE;
        const round = sims.map((sim, i) => {
          const first = t === SIM_START.getTime() || i === 0;
          if (!first && (random() < 0.4 || (stalled && i === 4))) return null;
          clocks[i].set(new Date(Math.min(SIM_END.getTime(), t + random() * 3000)));
          ticks++;
          return sim.scheduler.tick(clocks[i].now());
        });
        await Promise.all(round);
        t += 2000 + random() * 23_000;
      }
      for (const c of clocks) c.set(SIM_END);
      ticks += sims.length;
      await Promise.all(sims.map((sim) => sim.scheduler.tick(SIM_END)));
    } finally {
      await Promise.all(sims.map((sim) => sim.close()));
    }
    const runs = checkExactlyOnce(await strictJsonl(sb.state));
    checkEventLog(await strictJsonl(sb.events));
    const s = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`${ticks} ticks by 5 schedulers, ${runs} runs, exactly once; ${s} s`);
  });
});

Deno.test(`five scheduler processes over one state file, ten simulated minutes: one run per schedule-minute (seed ${FAULT_SEED})`, async () => {
  await withFiles(async (sb) => {
    const script = fromFileUrl(new URL("./_sim_child.ts", import.meta.url));
    const kids = Array.from({ length: 5 }, (_, i) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", "--config", `${REPO}/deno.json`, script]
          .concat([sb.state, sb.events, String(FAULT_SEED + i)]),
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn());
    const started = performance.now();
    // Every child sets up, says "ready"; then simulated time starts in all at once.
    const outs = kids.map((k) => stdoutLines(k.stdout));
    await Promise.all(outs.map((o) => o.ready));
    const go = new TextEncoder().encode(`${Date.now() + 100}\n`);
    for (const k of kids) {
      const w = k.stdin.getWriter();
      await w.write(go);
      await w.close();
    }
    const summaries = [];
    for (const [i, k] of kids.entries()) {
      const [status, err, lines] = await Promise.all([
        k.status,
        new Response(k.stderr).text(),
        outs[i].all,
      ]);
      assert.equal(status.code, 0, err);
      summaries.push(JSON.parse(lines.at(-1)!));
    }
    const runs = checkExactlyOnce(await strictJsonl(sb.state));
    checkEventLog(await strictJsonl(sb.events));
    const ticks = summaries.reduce((n, x) => n + x.ticks, 0);
    const per = summaries.map((x) => x.enqueued).join("/");
    const s = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `${ticks} ticks by 5 processes, ${runs} runs (enqueued per process ${per}); ${s} s`,
    );
  });
});

/** Reads a child's stdout: `ready` resolves at its first "ready" line, `all` at the end. */
function stdoutLines(stream: ReadableStream<Uint8Array>): {
  ready: Promise<void>;
  all: Promise<string[]>;
} {
  let onReady!: () => void;
  const ready = new Promise<void>((r) => onReady = r);
  const all = (async () => {
    let text = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      if (text.includes("ready\n")) onReady();
    }
    onReady();
    return text.split("\n").filter((l) => l !== "" && l !== "ready");
  })();
  return { ready, all };
}
