/**
 * Entry point of a pool worker (a module Web Worker). Loads workflow plugins, runs the
 * jobs it is sent one at a time and reports back in batches. See `protocol.ts`.
 *
 * Containment: a workflow cannot end the worker (`Deno.exit()` and `close()` throw), an
 * error it throws or rejects outside its promise fails its own attempt instead of the
 * worker, and what it writes with `console.*` becomes `task_log` lines of its attempt
 * (capped) instead of corrupting orch's stdout.
 * @module
 */
/// <reference lib="deno.worker" />
import { BUILTIN_WORKFLOWS } from "../workflows/builtin.gen.ts";
import { WorkflowLoader } from "./_workflow_loader.ts";
import { SerialJobRunner } from "./_serial_runner.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";

const runner = new SerialJobRunner(
  new WorkflowLoader(BUILTIN_WORKFLOWS),
  (msg: FromWorker) => self.postMessage(msg),
);
self.onmessage = (e: MessageEvent<ToWorker>) => runner.handle(e.data);

function forbid(what: string) {
  return () => {
    throw new Error(`${what} is not allowed in a workflow: throw an error or return instead`);
  };
}
Object.defineProperty(Deno, "exit", { value: forbid("Deno.exit()") });
self.close = forbid("close()");

self.addEventListener("error", (e) => {
  if (runner.failCurrent(e.error ?? e.message)) e.preventDefault();
});
self.addEventListener("unhandledrejection", (e) => {
  if (runner.failCurrent(e.reason)) e.preventDefault();
});

const format = (args: unknown[]) =>
  args.map((a) => typeof a === "string" ? a : Deno.inspect(a, { depth: 4 })).join(" ");
for (const level of ["log", "info", "warn", "error", "debug", "trace"] as const) {
  console[level] = (...args: unknown[]) => runner.console(format(args));
}
