/** Starts `orch dashboard --port 0` as a real process for end-to-end tests. */
import { REPO } from "./cli.ts";

/** A running dashboard process. */
export interface DashboardProcess {
  child: Deno.ChildProcess;
  /** Base URL from its "Dashboard at URL" line. */
  url: string;
  /** Resolves when its stderr is drained (after it exits). */
  drain: Promise<void>;
}

/**
 * @param cwd Working directory.
 * @param env Environment (orch's paths, token, ...).
 * @returns The process and its URL.
 */
export async function startDashboard(
  cwd: string,
  env: Record<string, string>,
): Promise<DashboardProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `${REPO}/main.ts`, "dashboard", "--port", "0"],
    cwd,
    env: { ...env, NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/Dashboard at (\S+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`dashboard exited: ${text}`);
    text += value;
  }
  const drain = (async () => {
    while (!(await reader.read()).done) { /* keep the pipe flowing */ }
  })();
  return { child, url: /Dashboard at (\S+)/.exec(text)![1], drain };
}
