/** Shared setup of the scheduler end-to-end tests. */
import { fileURLToPath as fromFileUrl } from "node:url";
import { REPO, type Sandbox, sandbox } from "../helpers/cli.ts";

/** The test plugins, used as WORKFLOWS_DIR. */
export const FIXTURES = fromFileUrl(new URL("../fixtures/workflows", import.meta.url));
export const MAIN = `${REPO}/main.ts`;

/**
 * A sandbox whose WORKFLOWS_DIR is the test plugins.
 * @returns The sandbox.
 */
export async function schedSandbox(): Promise<Sandbox> {
  const sb = await sandbox();
  sb.env.WORKFLOWS_DIR = FIXTURES;
  return sb;
}

/**
 * Waits, if needed, so that the next few seconds stay inside one wall-clock minute.
 * @param needS Seconds the test needs.
 */
export async function freshMinute(needS = 15): Promise<void> {
  const s = new Date().getUTCSeconds();
  if (s > 59 - needS) await new Promise((r) => setTimeout(r, (61 - s) * 1000));
}

/** @returns A cron that cannot match the current (or next) UTC minute. */
export function notNowCron(): string {
  return `${(new Date().getUTCMinutes() + 30) % 60} * * * *`;
}

/**
 * Writes one schedule file with the given entries (UTC).
 * @param sb The sandbox.
 * @param entries The schedules.
 */
export async function schedules(sb: Sandbox, entries: Record<string, unknown>[]): Promise<void> {
  const text = entries.map((e) => JSON.stringify({ tenant: "t", timezone: "UTC", ...e }))
    .map((j) => `- ${j}`).join("\n");
  await sb.write("sched/s.yaml", text + "\n");
}

/**
 * Spawns the CLI without waiting.
 * @param args Arguments.
 * @param sb The sandbox (cwd and env).
 * @param env Extra environment.
 * @returns The child.
 */
export function spawnOrch(
  args: string[],
  sb: Sandbox,
  env: Record<string, string> = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", `${REPO}/deno.json`, MAIN, ...args],
    cwd: sb.dir,
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0", ...sb.env, ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * Polls until `check` holds (at most `timeoutMs`).
 * @param check The condition.
 * @param timeoutMs The bound.
 */
export async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("Timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}
