/**
 * `deno task bench:pg`: the PostgreSQL cluster benchmark (issue 7). On a fresh schema per
 * case, starts 1, 2 and 4 `orch worker` processes and submits the layered 10,000-task
 * no-op DAG (bench/gen_dags.ts, bench/workflows/noop.ts) with `orch run --distributed`;
 * then runs a 3-task chain about 20 times. Everything is measured from the run's events
 * (the `events` table: what `orch` records on any implementation of distributed
 * execution), never from the queue's tables:
 *
 * - throughput: tasks / (dag_done - dag_start), and tasks / (dag_done - the first
 *   task_start), which leaves out the submitting transaction;
 * - chain end to end: dag_done - dag_start, and the `orch run` process's wall time;
 * - hand-off per edge: a task's task_start minus its dependency's task_ok;
 * - peak RSS of each worker (VmHWM from /proc, polled);
 * - CPU per task (µs, user + system from /proc) of the workers, of the submitter, and of
 *   every `postgres` process on the machine during the run (an upper bound for the
 *   run's own: other clients of the server count too; bench/pg_floor.ts measures the
 *   backends of the same statements alone).
 *
 * Every run must succeed and every task report the depth it can only know if its
 * upstream outputs reached it. Not part of CI (it takes minutes).
 *
 * Flags: `--store URL` (default ORCH_BENCH_PG, else the local test server), `--workers
 * 1,2,4`, `--n 10000`, `--chains 20`, `--chain-workers 2`, `--slots 4` (SCHED_MAX_PARALLEL
 * of each worker), `--submit 64` (SCHED_MAX_PARALLEL of the submitter), `--timeout 600`
 * (s per run).
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath as fromFileUrl } from "node:url";
import { connectPostgres, parseStoreConfig, type Sql } from "../src/store/postgres/mod.ts";
import { buildGraph, type Graph, median } from "./_graph.ts";
import { makeSpec, toYaml } from "./gen_dags.ts";

const MAIN = fromFileUrl(new URL("../main.ts", import.meta.url));
const CONFIG = fromFileUrl(new URL("../deno.json", import.meta.url));
const WORKFLOWS = fromFileUrl(new URL("./workflows", import.meta.url));

const { values } = parseArgs({
  args: Deno.args,
  options: {
    store: { type: "string" },
    workers: { type: "string", default: "1,2,4" },
    n: { type: "string", default: "10000" },
    chains: { type: "string", default: "20" },
    "chain-workers": { type: "string", default: "2" },
    slots: { type: "string", default: "4" },
    submit: { type: "string", default: "64" },
    timeout: { type: "string", default: "600" },
  },
});
const BASE = values.store ?? Deno.env.get("ORCH_BENCH_PG") ??
  "postgres://postgres@127.0.0.1:5432/orch_test";
const TIMEOUT_MS = Number(values.timeout) * 1000;

/** One stored event, as the bench reads it. */
interface Ev {
  event: string;
  task_id?: string;
  timestamp: string;
  output?: { depth?: number };
}

/** A fresh schema and the environment every orch process of a case gets. */
interface Case {
  schema: string;
  url: string;
  env: Record<string, string>;
  dir: string;
}

async function newCase(sql: Sql, dir: string): Promise<Case> {
  const schema = `orch_bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
  const u = new URL(BASE);
  u.searchParams.set("schema", schema);
  const url = u.toString();
  const env = {
    ORCH_STORE: url,
    WORKFLOWS_DIR: WORKFLOWS,
    ORCH_EVENTS_PATH: `${dir}/events.jsonl`,
    STATE_STORE_PATH: `${dir}/state.jsonl`,
    NO_COLOR: "1",
  };
  const c = { schema, url, env, dir };
  const migrated = await orch(c, ["db", "migrate"]);
  if (migrated.code !== 0) throw new Error(`orch db migrate failed: ${migrated.stderr}`);
  await sql`select 1`;
  return c;
}

function command(c: Case, args: string[], env: Record<string, string> = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", CONFIG, MAIN, ...args],
    cwd: c.dir,
    env: { ...c.env, ...env },
    stdout: "piped",
    stderr: "piped",
  });
}

async function orch(
  c: Case,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string; wallMs: number; cpuS: number }> {
  const t0 = performance.now();
  const child = command(c, args, env).spawn();
  let cpu = 0;
  const poll = setInterval(() => cpu = Math.max(cpu, cpuS(child.pid)), 20);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<null>((r) => timer = setTimeout(() => r(null), TIMEOUT_MS));
  const out = await Promise.race([child.output(), bound]);
  clearTimeout(timer);
  clearInterval(poll);
  if (!out) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`orch ${args.join(" ")} did not finish within ${values.timeout} s`);
  }
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    wallMs: performance.now() - t0,
    cpuS: cpu,
  };
}

/** CPU seconds (user + system) of a process so far, from /proc (0 once it is gone). */
function cpuS(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime (USER_HZ 100)
  } catch {
    return 0;
  }
}

/** CPU seconds of every `postgres` process on this machine (server and backends). */
function postgresCpuS(): number {
  let sum = 0;
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (stat.includes("(postgres)")) sum += cpuS(Number(e.name));
    } catch {
      // gone meanwhile
    }
  }
  return sum;
}

/** Workers of one case: started, serving, RSS polled; `stop()` SIGTERMs and waits. */
async function startWorkers(c: Case, k: number) {
  const children = Array.from(
    { length: k },
    () => command(c, ["worker"], { SCHED_MAX_PARALLEL: values.slots! }).spawn(),
  );
  const errs = children.map(() => "");
  const reading = children.map((child, i) =>
    child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (t) => void (errs[i] += t) }),
    ).catch(() => {})
  );
  for (const child of children) child.stdout.cancel().catch(() => {});
  const peak = children.map(() => 0);
  const poll = setInterval(() => {
    children.forEach((child, i) => peak[i] = Math.max(peak[i], vmHwmKb(child.pid)));
  }, 20);
  const end = Date.now() + 30_000;
  while (!errs.every((e) => /serving/.test(e))) {
    if (Date.now() > end) {
      clearInterval(poll);
      for (const child of children) child.kill("SIGKILL");
      throw new Error(`workers did not start:\n${errs.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    peakMb: () => peak.map((kb) => kb / 1024),
    cpuS: () => children.reduce((sum, child) => sum + cpuS(child.pid), 0),
    async stop(): Promise<void> {
      clearInterval(poll);
      for (const child of children) child.kill("SIGTERM");
      await Promise.all(children.map((child) => child.status));
      await Promise.all(reading);
    },
  };
}

function vmHwmKb(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Submits a DAG with `orch run --distributed` and reads its events back.
 * @returns The run's events, the process's wall time.
 */
async function submit(
  c: Case,
  sql: Sql,
  yaml: string,
): Promise<{ evs: Ev[]; wallMs: number; cpuS: number }> {
  const r = await orch(c, ["run", "--dag", yaml, "--distributed", "--json"], {
    SCHED_MAX_PARALLEL: values.submit!,
  });
  if (r.code !== 0) throw new Error(`orch run exited ${r.code}: ${r.stderr.slice(-800)}`);
  const runId = JSON.parse(r.stdout).run_id as string;
  const rows = await sql<{ body: Ev }[]>`
    select body from ${sql(c.schema)}.events where run_id = ${runId} order by id`;
  return { evs: rows.map((x) => x.body), wallMs: r.wallMs, cpuS: r.cpuS };
}

function span(evs: Ev[]): number {
  const start = evs.find((e) => e.event === "dag_start");
  const done = evs.find((e) => e.event === "dag_done");
  if (!start || !done) throw new Error("The run's events lack dag_start or dag_done");
  return Math.max(Date.parse(done.timestamp) - Date.parse(start.timestamp), 0.5);
}

/**
 * ms from the first task_start to dag_done: the run's execution without its submission
 * (dag_start is stamped before the submitting transaction writes the run's tasks).
 */
function execMs(evs: Ev[]): number {
  const first = Math.min(
    ...evs.filter((e) => e.event === "task_start").map((e) => Date.parse(e.timestamp)),
  );
  const done = evs.find((e) => e.event === "dag_done")!;
  return Math.max(Date.parse(done.timestamp) - first, 0.5);
}

/** Checks the run succeeded and every task reported its depth once. */
function verify(g: Graph, evs: Ev[]): void {
  const done = evs.find((e) => e.event === "dag_done") as Ev & { status?: string } | undefined;
  if (done?.status !== "success") throw new Error(`Run ended ${done?.status}`);
  const depth = new Map<string, number | undefined>();
  for (const e of evs) {
    if (e.event !== "task_ok") continue;
    if (depth.has(e.task_id!)) throw new Error(`Task "${e.task_id}" succeeded twice`);
    depth.set(e.task_id!, e.output?.depth);
  }
  for (let i = 0; i < g.n; i++) {
    if (depth.get(g.ids[i]) !== g.depth[i]) {
      throw new Error(
        `Task "${g.ids[i]}" reported depth ${depth.get(g.ids[i])}, not ${g.depth[i]}`,
      );
    }
  }
}

/** task_start of each task minus task_ok of each of its dependencies, ms. */
function handOffs(g: Graph, evs: Ev[]): number[] {
  const at = (name: string) =>
    new Map(evs.filter((e) => e.event === name).map((e) => [e.task_id!, Date.parse(e.timestamp)]));
  const started = at("task_start");
  const ok = at("task_ok");
  const out: number[] = [];
  for (let i = 0; i < g.n; i++) {
    for (const d of g.deps[i]) out.push(started.get(g.ids[i])! - ok.get(g.ids[d])!);
  }
  return out;
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const fmt = (x: number, digits = 0) => x.toFixed(digits);

const dir = await Deno.makeTempDir({ prefix: "orch-bench-pg-" });
const config = parseStoreConfig(BASE);
if (config.kind !== "postgres") throw new Error(`--store must be a postgres URL: ${BASE}`);
const sql = connectPostgres(config, { max: 2 });
const schemas: string[] = [];
const say = (line: string) => console.log(line);
try {
  const n = Number(values.n);
  const layered = makeSpec("layered", n);
  const layeredYaml = `${dir}/${layered.name}.yaml`;
  await Deno.writeTextFile(layeredYaml, toYaml(layered));
  const chain = makeSpec("chain", 3);
  const chainYaml = `${dir}/${chain.name}.yaml`;
  await Deno.writeTextFile(chainYaml, toYaml(chain));
  say(
    `PostgreSQL cluster benchmark: ${navigator.hardwareConcurrency} cores, worker slots ` +
      `${values.slots}, submitter SCHED_MAX_PARALLEL ${values.submit}, store ${config.redacted}`,
  );

  say(
    `\n| workers | ${layered.name}: tasks/s | dag_start..dag_done | tasks/s from the first task_start | hand-off p50 / p95 | worker peak RSS | CPU µs/task: workers, submitter, postgres (all) |`,
  );
  say("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const g = buildGraph(layered);
  for (const k of values.workers!.split(",").map(Number)) {
    const c = await newCase(sql, dir);
    schemas.push(c.schema);
    const workers = await startWorkers(c, k);
    try {
      const w0 = workers.cpuS();
      const pg0 = postgresCpuS();
      const { evs, cpuS: submitS } = await submit(c, sql, layeredYaml);
      const perTask = (s: number) => fmt((s / n) * 1e6);
      const cpu = `${perTask(workers.cpuS() - w0)}, ${perTask(submitS)}, ` +
        perTask(postgresCpuS() - pg0);
      verify(g, evs);
      const ms = span(evs);
      const h = handOffs(g, evs);
      const rss = workers.peakMb();
      say(
        `| ${k} | ${fmt(n / (ms / 1000))} | ${fmt(ms / 1000, 1)} s | ${
          fmt(n / (execMs(evs) / 1000))
        } | ` +
          `${fmt(percentile(h, 50))} / ${fmt(percentile(h, 95))} ms | ` +
          `${fmt(Math.max(...rss))} MB (max of ${k}) | ${cpu} |`,
      );
    } finally {
      await workers.stop();
    }
  }

  const k = Number(values["chain-workers"]);
  const c = await newCase(sql, dir);
  schemas.push(c.schema);
  const workers = await startWorkers(c, k);
  const cg = buildGraph(chain);
  const e2e: number[] = [];
  const walls: number[] = [];
  const hand: number[] = [];
  try {
    await submit(c, sql, chainYaml); // warm-up: first claims, first workflow loads
    for (let i = 0; i < Number(values.chains); i++) {
      const { evs, wallMs } = await submit(c, sql, chainYaml);
      verify(cg, evs);
      e2e.push(span(evs));
      walls.push(wallMs);
      hand.push(...handOffs(cg, evs));
    }
  } finally {
    await workers.stop();
  }
  say(`\n3-task chain, ${values.chains} runs on ${k} workers (after one warm-up run):`);
  say("| measure | p50 | p95 |");
  say("| --- | ---: | ---: |");
  say(`| dag_start..dag_done | ${fmt(median(e2e))} ms | ${fmt(percentile(e2e, 95))} ms |`);
  say(
    `| hand-off per edge (task_start - upstream task_ok) | ${fmt(median(hand))} ms | ` +
      `${fmt(percentile(hand, 95))} ms |`,
  );
  say(
    `| \`orch run\` process, wall | ${fmt(median(walls))} ms | ${fmt(percentile(walls, 95))} ms |`,
  );
} finally {
  for (const s of schemas) await sql`drop schema if exists ${sql(s)} cascade`.catch(() => {});
  await sql.end();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
