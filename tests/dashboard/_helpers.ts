import { join } from "node:path";
import { createDashboard, type Dashboard, type DashboardOptions } from "../../src/dashboard/mod.ts";
import { ManualClock } from "../../src/lib/mod.ts";

/** The fixture logs, copied per test because tests append to them. */
export const FIXTURES = new URL("../fixtures/logs/", import.meta.url);

/** Run ids in the fixture logs. */
export const RUN = {
  scheduled: "20260301T090000000Z-aaaa0001",
  failed: "20260301T100000000Z-bbbb0002",
  running: "20260301T110000000Z-cccc0003",
  interrupted: "20260301T080000000Z-dddd0004",
} as const;

/** A temp copy of the fixture logs. */
export interface FixtureDir {
  dir: string;
  eventsPath: string;
  statePath: string;
  /** Appends JSON lines (or raw text when given a string) to the events file. */
  appendEvents(...lines: (object | string)[]): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * Copies the fixture logs to a temp dir.
 * @returns Paths and helpers.
 */
export async function fixtureDir(): Promise<FixtureDir> {
  const dir = await Deno.makeTempDir({ prefix: "orch_dash_" });
  const eventsPath = join(dir, "events.jsonl");
  const statePath = join(dir, "state.jsonl");
  await Deno.copyFile(new URL("events.jsonl", FIXTURES), eventsPath);
  await Deno.copyFile(new URL("state.jsonl", FIXTURES), statePath);
  return {
    dir,
    eventsPath,
    statePath,
    async appendEvents(...lines) {
      const text = lines.map((l) => typeof l === "string" ? l : JSON.stringify(l) + "\n").join("");
      await Deno.writeTextFile(eventsPath, text, { append: true });
    },
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}

/** The fixed "now" of the tests: one minute after the running fixture run started. */
export const NOW = new Date("2026-03-01T11:01:00.000Z");

/**
 * A dashboard over a fresh fixture copy.
 * @param options Extra dashboard options.
 * @returns The app and the fixture dir; call `done()` at the end.
 */
export async function fixtureApp(
  options: Partial<DashboardOptions> = {},
): Promise<{ app: Dashboard; fx: FixtureDir; done(): Promise<void> }> {
  const fx = await fixtureDir();
  const app = createDashboard({
    paths: { eventsPath: fx.eventsPath, statePath: fx.statePath },
    clock: new ManualClock(NOW),
    ...options,
  });
  return {
    app,
    fx,
    async done() {
      await app.close();
      await fx.cleanup();
    },
  };
}

/**
 * GETs a path and parses JSON.
 * @param app The dashboard.
 * @param path Path and query.
 * @param init Request init.
 * @returns Status and body.
 */
export async function getJson(
  app: Dashboard,
  path: string,
  init?: RequestInit,
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; body: any; res: Response }> {
  const res = await app.fetch(new Request(`http://x${path}`, init));
  return { status: res.status, body: await res.json(), res };
}

/** A task-level event line for run `runId` of the fixture's `etl` DAG. */
export function etlEvent(runId: string, event: string, fields: Record<string, unknown> = {}) {
  return {
    v: 1,
    timestamp: new Date().toISOString(),
    event,
    run_id: runId,
    dag_name: "etl",
    tenant_id: "acme",
    ...fields,
  };
}

/** Reads the stream until `pattern` appears, or fails after `timeoutMs`. */
export async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  pattern: RegExp,
  timeoutMs = 3000,
): Promise<string> {
  let text = "";
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(text)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`Timed out waiting for ${pattern}; got: ${text}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timed out waiting for ${pattern}`)), left);
    });
    try {
      const { value, done } = await Promise.race([reader.read(), timeout]);
      if (done) throw new Error(`Stream ended before ${pattern}; got: ${text}`);
      text += value;
    } finally {
      clearTimeout(timer);
    }
  }
  return text;
}
