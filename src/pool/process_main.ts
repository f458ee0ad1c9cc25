/**
 * Entry point of a worker *process*: the same job runner as a Web Worker, speaking the
 * pool protocol as JSON lines on stdin/stdout. Lines it writes start with a per-process
 * nonce (argv[0]), so anything else a workflow writes to stdout is ignored, not parsed.
 * Used for workflows that must be killable (SIGKILL stops a synchronous loop, which
 * `worker.terminate()` cannot) or memory-capped.
 * @module
 */
import { installWorkerRuntime } from "./_worker_runtime.ts";
import type { ToWorker } from "./protocol.ts";

/**
 * Runs the worker process loop until stdin closes.
 * @param nonce Prefix of every protocol line.
 */
export async function processWorkerMain(nonce: string): Promise<void> {
  const enc = new TextEncoder();
  const runner = installWorkerRuntime((msg) => {
    const buf = enc.encode(nonce + JSON.stringify(msg) + "\n");
    let off = 0;
    while (off < buf.length) off += Deno.stdout.writeSync(buf.subarray(off));
  });
  let rest = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      if (line) runner.handle(JSON.parse(line) as ToWorker);
    }
  }
}

if (import.meta.main) await processWorkerMain(Deno.args[0] ?? "");
