/**
 * Entry point of a pool worker (a module Web Worker). Loads workflow plugins, runs the
 * jobs it is sent one at a time and reports back in batches. See `protocol.ts` and
 * `_worker_runtime.ts` for what a workflow can and cannot do to its worker.
 * @module
 */
/// <reference lib="deno.worker" />
import { installWorkerRuntime } from "./_worker_runtime.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";

const runner = installWorkerRuntime((msg: FromWorker) => self.postMessage(msg));
self.onmessage = (e: MessageEvent<ToWorker>) => runner.handle(e.data);
