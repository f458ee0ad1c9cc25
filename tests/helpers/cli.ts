/** Helpers for end-to-end tests: run the real CLI in a temp directory. */
import { fileURLToPath as fromFileUrl } from "node:url";

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

/** A temp working directory with `logs/` and `workflows/` paths, removed by `cleanup()`. */
export interface Sandbox {
  dir: string;
  events: string;
  state: string;
  workflows: string;
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
  return {
    dir,
    events,
    state,
    workflows,
    env: { ORCH_EVENTS_PATH: events, STATE_STORE_PATH: state, WORKFLOWS_DIR: workflows },
    async write(rel, text) {
      const path = `${dir}/${rel}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeTextFile(path, text);
      return path;
    },
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
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
