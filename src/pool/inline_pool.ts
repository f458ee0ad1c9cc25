import { BUILTIN_WORKFLOWS } from "../workflows/builtin.gen.ts";
import { WorkflowLoader } from "./_workflow_loader.ts";
import { SerialJobRunner } from "./_serial_runner.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import { type WorkerLike, WorkerPool } from "./worker_pool.ts";

/** A same-thread stand-in for a Web Worker: messages are delivered as microtasks. */
class InlineWorker implements WorkerLike {
  onmessage: ((e: MessageEvent<FromWorker>) => void) | null = null;
  onerror: ((e: ErrorEvent) => void) | null = null;
  #alive = true;
  #runner: SerialJobRunner;

  constructor(loader: WorkflowLoader) {
    this.#runner = new SerialJobRunner(loader, (msg) => {
      queueMicrotask(() => {
        if (this.#alive) this.onmessage?.({ data: msg } as MessageEvent<FromWorker>);
      });
    });
  }

  postMessage(msg: ToWorker): void {
    queueMicrotask(() => {
      if (this.#alive) this.#runner.handle(structuredClone(msg));
    });
  }

  terminate(): void {
    this.#alive = false;
  }
}

/**
 * The same pool logic as {@link WorkerPool}, with workers that run on the calling thread.
 * For tests and for embedding; a workflow stuck in a synchronous loop blocks the caller.
 */
export class InlinePool extends WorkerPool {
  /** @param options `size`: attempts that may run at once. */
  constructor(options: { size: number }) {
    const loader = new WorkflowLoader(BUILTIN_WORKFLOWS);
    super({ size: options.size, spawn: () => new InlineWorker(loader) });
  }
}
