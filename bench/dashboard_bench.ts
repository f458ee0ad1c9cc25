/**
 * Measures the dashboard over a generated events log (default 1,000,000 lines):
 * the first load (fold of the whole file, via the first `/api/runs` request), then
 * request latencies once loaded, an incremental refresh after an append, and memory.
 *
 *   deno run -A bench/dashboard_bench.ts [lines] [--keep]
 *
 * Results are recorded in docs/DASHBOARD.md.
 */
import { join } from "node:path";
import { createDashboard } from "../src/dashboard/mod.ts";
import { writeGeneratedLog } from "../tests/fixtures/logs/generate.ts";

const lines = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const dir = await Deno.makeTempDir({ prefix: "orch_dash_bench_" });
const eventsPath = join(dir, "events.jsonl");
const statePath = join(dir, "state.jsonl");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.95))];
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function get(app: ReturnType<typeof createDashboard>, path: string) {
  const res = await app.fetch(new Request(`http://x${path}`));
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return await res.text();
}

async function sample(label: string, n: number, fn: () => Promise<unknown>) {
  const ts: number[] = [];
  for (let i = 0; i < n; i++) ts.push(await time(fn));
  console.log(
    `${label.padEnd(44)} median ${median(ts).toFixed(2)} ms  p95 ${
      p95(ts).toFixed(2)
    } ms  (n=${n})`,
  );
}

const genStart = performance.now();
const runs = await writeGeneratedLog(eventsPath, lines);
const size = (await Deno.stat(eventsPath)).size;
console.log(
  `Generated ${lines.toLocaleString("en")} lines, ${runs.toLocaleString("en")} runs, ${
    (size / 1e6).toFixed(0)
  } MB in ${((performance.now() - genStart) / 1000).toFixed(1)} s`,
);
const rssBefore = Deno.memoryUsage().rss;
const app = createDashboard({ paths: { eventsPath, statePath } });
try {
  const first = await time(() => get(app, "/api/runs?limit=50"));
  const rss = Deno.memoryUsage().rss;
  console.log(`First load (fold whole file + first page)     ${first.toFixed(0)} ms`);
  console.log(
    `RSS after load                               ${
      ((rss - rssBefore) / 1e6).toFixed(0)
    } MB more (${(rss / 1e6).toFixed(0)} MB total)`,
  );
  const newest = JSON.parse(await get(app, "/api/runs?limit=1")).runs[0].run_id;
  const failed = JSON.parse(await get(app, "/api/runs?status=failed&offset=1000&limit=1")).runs[0]
    .run_id;
  await sample("GET /api/runs?limit=50 (newest page)", 50, () => get(app, "/api/runs?limit=50"));
  await sample(
    "GET /api/runs?status=failed&offset=1000",
    50,
    () => get(app, "/api/runs?status=failed&offset=1000&limit=50"),
  );
  await sample(
    "GET /api/runs?dag=dag_3&tenant=tenant_1",
    50,
    () => get(app, "/api/runs?dag=dag_3&tenant=tenant_1&limit=50"),
  );
  await sample("GET /api/runs/:id (newest run)", 50, () => get(app, `/api/runs/${newest}`));
  await sample("GET /api/runs/:id (old failed run)", 50, () => get(app, `/api/runs/${failed}`));
  await sample("GET /api/facets", 20, () => get(app, "/api/facets"));
  await sample("GET /metrics", 20, () => get(app, "/metrics"));
  await sample("GET / (page shell)", 50, () => get(app, "/"));
  const line = JSON.stringify({
    v: 1,
    timestamp: new Date().toISOString(),
    event: "dag_start",
    run_id: "bench-new",
    dag_name: "bench",
    tenant_id: "t",
    tasks: 1,
    trigger: "manual",
  }) + "\n";
  await sample("append 1 line + GET /api/runs?limit=50", 20, async () => {
    await Deno.writeTextFile(eventsPath, line, { append: true });
    await get(app, "/api/runs?limit=50");
  });
} finally {
  await app.close();
  if (!Deno.args.includes("--keep")) await Deno.remove(dir, { recursive: true });
  else console.log(`Kept ${dir}`);
}
