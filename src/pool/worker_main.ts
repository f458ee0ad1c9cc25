/**
 * Entry point of a pool worker (a module Web Worker). Loads workflow plugins, runs the
 * jobs it is sent one at a time and reports back in batches. See `protocol.ts`.
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
