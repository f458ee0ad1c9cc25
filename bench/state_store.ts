/**
 * The state store on a large file: `lastRuns(20)` and `indexBy("schedule_id", 100)`
 * against a full scan that parses every line (what answering them without reading
 * backwards costs), and appends per second from one process, both one `recordEvent`
 * per event (awaited one after the other: one lock per burst, one write per event) and
 * batched (`tx.append` of many events in one transaction).
 * @module
 */
import { StateStore } from "../src/store/state_store.ts";
import { median } from "./_graph.ts";

/** Results of the state-store cases. */
export interface StoreTimes {
  fileMb: number;
  lastRunsMs: number;
  indexByMs: number;
  fullScanMs: number;
  recordEventPerS: number;
  batchedPerS: number;
  batchSize: number;
}

/**
 * Writes a state file of about `mb` MiB of realistic scheduler and run events.
 * @param path The file.
 * @param mb Size in MiB.
 */
export function writeStateFile(path: string, mb: number): void {
  const file = Deno.openSync(path, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  const t0 = Date.parse("2026-01-01T00:00:00Z");
  let written = 0;
  let n = 0;
  try {
    while (written < mb * 1024 * 1024) {
      const lines: string[] = [];
      for (let k = 0; k < 5000; k++, n++) {
        const ts = new Date(t0 + n * 1000).toISOString();
        const sid = `sched_${n % 50}`;
        const run = `run-${n.toString(36)}`;
        lines.push(
          n % 3 === 0
            ? JSON.stringify({
              timestamp: ts,
              v: 1,
              event: "schedule_enqueued",
              schedule_id: sid,
              minute: ts.slice(0, 16),
              minute_utc: ts,
              timezone: "UTC",
              dag: "/srv/dags/etl.yaml",
              tenant: "acme",
              run_id: run,
              pid: 4242,
              host: "box",
            })
            : JSON.stringify({
              timestamp: ts,
              v: 1,
              event: n % 3 === 1 ? "run_started" : "run_finished",
              run_id: run,
              schedule_id: sid,
              dag_name: "etl",
              tenant_id: "acme",
              trigger: "schedule",
              pid: 4242,
              host: "box",
            }),
        );
      }
      const buf = enc.encode(lines.join("\n") + "\n");
      let off = 0;
      while (off < buf.length) off += file.writeSync(buf.subarray(off));
      written += buf.length;
    }
  } finally {
    file.close();
  }
}

/**
 * @param path An existing state file (see {@link writeStateFile}).
 * @param dir A scratch directory for the append cases.
 * @param options `reps` for the queries, `appends` per append case.
 * @returns The measurements.
 */
export async function measureStateStore(
  path: string,
  dir: string,
  options: { reps: number; appends: number },
): Promise<StoreTimes> {
  const store = new StateStore(path);
  const lastRunsMs = await timeIt(options.reps, async () => {
    if ((await store.lastRuns(20)).length !== 20) throw new Error("lastRuns(20) came back short");
  });
  const indexByMs = await timeIt(options.reps, async () => {
    const groups = await store.indexBy("schedule_id", 100);
    const n = Object.values(groups).reduce((s, g) => s + g.length, 0);
    if (n !== 100) throw new Error(`indexBy came back with ${n} events`);
  });
  const t0 = performance.now();
  const scanned = await fullScan(path);
  const fullScanMs = performance.now() - t0;
  if (scanned.length !== 20) throw new Error("full scan found too few events");

  const appendStore = new StateStore(`${dir}/appends/state.jsonl`);
  const event = { event: "run_finished", run_id: "r", status: "success" };
  for (let i = 0; i < 100; i++) await appendStore.recordEvent(event); // warm-up
  let t1 = performance.now();
  for (let i = 0; i < options.appends; i++) await appendStore.recordEvent(event);
  const recordEventPerS = options.appends / ((performance.now() - t1) / 1000);
  const batchSize = 1000;
  const batch = Array.from({ length: batchSize }, () => event);
  const batches = Math.max(1, Math.round(options.appends / batchSize));
  t1 = performance.now();
  for (let b = 0; b < batches; b++) {
    await appendStore.transaction((tx) => Promise.resolve(tx.append(...batch)));
  }
  const batchedPerS = batches * batchSize / ((performance.now() - t1) / 1000);
  await Deno.remove(`${dir}/appends`, { recursive: true });
  return {
    fileMb: Deno.statSync(path).size / 1024 / 1024,
    lastRunsMs,
    indexByMs,
    fullScanMs,
    recordEventPerS,
    batchedPerS,
    batchSize,
  };
}

/** Reads the whole file forwards, parses every line, keeps the newest 20. */
async function fullScan(path: string): Promise<unknown[]> {
  const last: unknown[] = [];
  const dec = new TextDecoder();
  let rest = "";
  using file = await Deno.open(path);
  for await (const chunk of file.readable) {
    const text = rest + dec.decode(chunk, { stream: true });
    const lines = text.split("\n");
    rest = lines.pop()!;
    for (const l of lines) {
      if (!l) continue;
      last.push(JSON.parse(l));
      if (last.length > 20) last.shift();
    }
  }
  return last;
}

async function timeIt(reps: number, fn: () => Promise<void>): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}
