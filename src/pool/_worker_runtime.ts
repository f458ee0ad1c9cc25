import { BUILTIN_WORKFLOWS } from "../workflows/builtin.gen.ts";
import { WorkflowLoader } from "./_workflow_loader.ts";
import { SerialJobRunner } from "./_serial_runner.ts";
import type { FromWorker } from "./protocol.ts";

/**
 * Sets up the global scope of a pool worker (a Web Worker or a worker process) and returns
 * its job runner. Containment: a workflow cannot end the worker (`Deno.exit()` and
 * `close()` throw), an error it throws or rejects outside its promise fails its own attempt
 * instead of the worker, and what it writes with `console.*` becomes `task_log` lines of
 * its attempt (capped) instead of corrupting orch's output.
 * @param post Sends a message to the pool.
 * @returns The runner; feed it the pool's messages with `handle()`.
 */
export function installWorkerRuntime(post: (msg: FromWorker) => void): SerialJobRunner {
  const runner = new SerialJobRunner(new WorkflowLoader(BUILTIN_WORKFLOWS), post);
  const forbid = (what: string) => () => {
    throw new Error(`${what} is not allowed in a workflow: throw an error or return instead`);
  };
  Object.defineProperty(Deno, "exit", { value: forbid("Deno.exit()") });
  Object.defineProperty(globalThis, "close", { value: forbid("close()"), configurable: true });
  globalThis.addEventListener("error", (e) => {
    if (runner.failCurrent(e.error ?? e.message)) e.preventDefault();
  });
  globalThis.addEventListener("unhandledrejection", (e) => {
    if (runner.failCurrent(e.reason)) e.preventDefault();
  });
  const format = (args: unknown[]) =>
    args.map((a) => typeof a === "string" ? a : Deno.inspect(a, { depth: 4 })).join(" ");
  for (const level of ["log", "info", "warn", "error", "debug", "trace"] as const) {
    console[level] = (...args: unknown[]) => runner.console(format(args));
  }
  return runner;
}
