/**
 * Shared pieces of the fault-injection suites: a seeded PRNG (so a failing seed can be
 * replayed with `FAULT_SEED`), strict JSONL reading, the state-store invariants every
 * fault must preserve, and small statistics for the reports.
 */
import assert from "node:assert/strict";

/** Kill iterations per scenario (`FAULT_KILLS`). */
export function faultKills(dflt: number): number {
  return Number(Deno.env.get("FAULT_KILLS") ?? dflt);
}

/** The seed of this run (`FAULT_SEED`, default from the clock); print it in the test name. */
export const FAULT_SEED = Number(Deno.env.get("FAULT_SEED") ?? Date.now() % 100_000);

/**
 * A small deterministic PRNG (mulberry32).
 * @param seed The seed.
 * @returns Uniform numbers in [0, 1).
 */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return function next(): number {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** One line of a JSONL log. */
export type Line = Record<string, unknown>;

/**
 * Reads a JSONL file strictly: every line must be a JSON object and the file must end
 * with a newline. A missing file is empty.
 * @param path The file.
 * @returns The objects, in order.
 */
export async function strictJsonl(path: string): Promise<Line[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  assert.ok(text === "" || text.endsWith("\n"), `"${path}" ends with a torn line`);
  return text.split("\n").filter((l) => l !== "").map((l, i) => {
    try {
      return JSON.parse(l) as Line;
    } catch {
      throw new Error(`"${path}" line ${i + 1} does not parse: ${l.slice(0, 120)}`);
    }
  });
}

/**
 * @param path A file.
 * @returns Whether it exists and its last byte is not a newline (a torn append).
 */
export async function hasTornTail(path: string): Promise<boolean> {
  try {
    const bytes = await Deno.readFile(path);
    return bytes.length > 0 && bytes[bytes.length - 1] !== 10;
  } catch {
    return false;
  }
}

/**
 * Checks the state-store invariants that hold after recovery, whatever was killed:
 * each run id has at most one `schedule_enqueued` and one `run_started`, and exactly one
 * `run_finished` when it has either; each {schedule_id, minute_utc} is decided
 * (enqueued or skipped) at most once.
 * @param state The state store's lines.
 * @returns Run id to its `run_finished`.
 */
export function checkStateInvariants(state: Line[]): Map<string, Line> {
  const count = (name: string) => {
    const m = new Map<string, number>();
    for (const e of state) {
      if (e.event === name) m.set(String(e.run_id), (m.get(String(e.run_id)) ?? 0) + 1);
    }
    return m;
  };
  const enq = count("schedule_enqueued");
  const started = count("run_started");
  const finished = count("run_finished");
  for (const [id, n] of enq) assert.equal(n, 1, `run ${id}: ${n} schedule_enqueued`);
  for (const [id, n] of started) assert.equal(n, 1, `run ${id}: ${n} run_started`);
  for (const id of new Set([...enq.keys(), ...started.keys()])) {
    assert.equal(finished.get(id) ?? 0, 1, `run ${id}: ${finished.get(id) ?? 0} run_finished`);
  }
  const decided = new Map<string, number>();
  for (const e of state) {
    if (e.event !== "schedule_enqueued" && e.event !== "schedule_skipped") continue;
    const key = `${e.schedule_id} ${e.minute_utc}`;
    decided.set(key, (decided.get(key) ?? 0) + 1);
  }
  for (const [key, n] of decided) assert.equal(n, 1, `schedule-minute ${key} decided ${n} times`);
  const out = new Map<string, Line>();
  for (const e of state) if (e.event === "run_finished") out.set(String(e.run_id), e);
  return out;
}

/**
 * Checks the task-level log: every run with a `dag_start` has exactly one `dag_done`.
 * @param events The event log's lines.
 */
export function checkEventLog(events: Line[]): void {
  const start = new Set<string>();
  const done = new Map<string, number>();
  for (const e of events) {
    if (e.event === "dag_start") start.add(String(e.run_id));
    if (e.event === "dag_done") done.set(String(e.run_id), (done.get(String(e.run_id)) ?? 0) + 1);
  }
  for (const id of start) assert.equal(done.get(id) ?? 0, 1, `run ${id}: dag_done count`);
}

/**
 * @param values Numbers.
 * @returns p50, p95 and max, rounded to ms.
 */
export function percentiles(values: number[]): { p50: number; p95: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : 0;
  return { p50: Math.round(at(0.5)), p95: Math.round(at(0.95)), max: Math.round(at(1)) };
}
