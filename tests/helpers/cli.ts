/** Helpers for end-to-end tests: run the real CLI in a temp directory. */
import { fileURLToPath as fromFileUrl } from "node:url";
import { dropSchema, newSchema, ON_PG, pgUrl, readTable, truncate } from "./backend.ts";

/** Absolute path of the repository root. */
export const REPO = fromFileUrl(new URL("../../", import.meta.url)).replace(/\/$/, "");
const MAIN = `${REPO}/main.ts`;

/** Result of one CLI invocation. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run -A main.ts ...args` in `cwd` with a clean, predictable environment.
 * @param args CLI arguments.
 * @param options cwd and extra environment variables.
 * @returns Exit code and output.
 */
export async function orch(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", `${REPO}/deno.json`, MAIN, ...args],
    cwd: options.cwd,
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * A temp working directory with `logs/` and `workflows/` paths, removed by `cleanup()`.
 * With `ORCH_TEST_BACKEND=postgres`, `env` also sets ORCH_STORE to a fresh schema
 * (`store`), dropped by `cleanup()`; read what was recorded with {@link readEvents} and
 * {@link readState}, not from the files.
 */
export interface Sandbox {
  dir: string;
  events: string;
  state: string;
  workflows: string;
  /** The PostgreSQL store URL (its own schema) on the postgres backend. */
  store?: string;
  env: Record<string, string>;
  /** Writes a file relative to the sandbox (creating directories). */
  write(rel: string, text: string): Promise<string>;
  cleanup(): Promise<void>;
}

/** @returns A fresh sandbox whose env points orch's paths into it. */
export async function sandbox(): Promise<Sandbox> {
  const dir = await Deno.makeTempDir({ prefix: "orch_test_" });
  const events = `${dir}/logs/orchestrator_events.jsonl`;
  const state = `${dir}/logs/orchestrator_state.jsonl`;
  const workflows = `${dir}/workflows`;
  await Deno.mkdir(workflows, { recursive: true });
  const store = ON_PG ? pgUrl(newSchema()) : undefined;
  return {
    dir,
    events,
    state,
    workflows,
    store,
    env: {
      ORCH_EVENTS_PATH: events,
      STATE_STORE_PATH: state,
      WORKFLOWS_DIR: workflows,
      ...(store ? { ORCH_STORE: store } : {}),
    },
    async write(rel, text) {
      const path = `${dir}/${rel}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeTextFile(path, text);
      return path;
    },
    async cleanup() {
      try {
        await Deno.remove(dir, { recursive: true });
      } finally {
        if (store) await dropSchema(store);
      }
    },
  };
}

/**
 * The task-level events the sandbox's runs recorded, in order.
 * @param sb The sandbox.
 * @returns The events; `[]` when none were recorded.
 */
export async function readEvents(sb: Sandbox): Promise<Record<string, unknown>[]> {
  if (sb.store) return await readTable(sb.store, "events");
  return (await exists(sb.events)) ? await readJsonl(sb.events) : [];
}

/**
 * The state events (scheduler and runs) the sandbox recorded, in order.
 * @param sb The sandbox.
 * @returns The events; `[]` when none were recorded.
 */
export async function readState(sb: Sandbox): Promise<Record<string, unknown>[]> {
  if (sb.store) return await readTable(sb.store, "state_events");
  return (await exists(sb.state)) ? await readJsonl(sb.state) : [];
}

/** @param sb The sandbox whose task-level events to forget. */
export async function resetEvents(sb: Sandbox): Promise<void> {
  if (sb.store) return await truncate(sb.store, ["events"]);
  await Deno.remove(sb.events).catch(() => {});
}

/** @param sb The sandbox whose state (events, schedule-minutes, watermarks, runs) to forget. */
export async function resetState(sb: Sandbox): Promise<void> {
  if (sb.store) {
    return await truncate(sb.store, ["schedule_minutes", "state_events", "watermarks", "runs"]);
  }
  await Deno.remove(sb.state).catch(() => {});
  await Deno.remove(`${sb.state}.watermarks.json`).catch(() => {});
}

/**
 * Reads a JSONL file; every line must parse.
 * @param path The file.
 * @returns The objects, in order.
 */
export async function readJsonl(path: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
}

/** @returns Whether the path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
