import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import type { WorkerPermissions } from "../workflows/permissions.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import type { WorkerLike } from "./worker_spawn.ts";
import { PROCESS_RSS_OVERHEAD_MB, watchProcessRss } from "./process_rss_guard.ts";

/** Options of a worker process. */
export interface ProcessWorkerOptions {
  /** Deno permissions of the process; undefined: those this process was granted. */
  permissions?: WorkerPermissions;
  /**
   * V8 heap limit in MiB; past it the process dies and only its attempt fails. Its RSS is
   * also capped, at this plus {@link PROCESS_RSS_OVERHEAD_MB} (memory outside the heap).
   */
  memoryMb?: number;
}

const encoder = new TextEncoder();

/**
 * A pool worker that is a child process (`process_main.ts`) instead of a thread. Costs a
 * process start (tens of ms) but `terminate()` really stops it (SIGKILL), its heap can be
 * capped, and its permissions are the child's command-line flags. Implements the same
 * {@link WorkerLike} surface, so the pool treats both alike; the child's death is
 * reported through `onerror`.
 */
export class ProcessWorker implements WorkerLike {
  onmessage: ((e: MessageEvent<FromWorker>) => void) | null = null;
  onerror: ((e: ErrorEvent) => void) | null = null;
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #nonce = crypto.randomUUID();
  #writes: Promise<void> = Promise.resolve();
  #alive = true;
  #stderr = "";
  /** The RSS (MiB) at which the parent killed the child. */
  #killedAtMb: number | undefined;

  /** @param options Permissions and heap limit. */
  constructor(options: ProcessWorkerOptions = {}) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: childArgs(this.#nonce, options),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#readStdout();
    this.#readStderr();
    const unwatch = options.memoryMb
      ? watchProcessRss(this.#child.pid, options.memoryMb + PROCESS_RSS_OVERHEAD_MB, (mb) => {
        this.#killedAtMb = mb;
        this.#child.kill("SIGKILL");
      })
      : () => {};
    this.#child.status.then((st) => {
      unwatch();
      if (!this.#alive) return;
      this.#alive = false;
      const how = st.signal ? `signal ${st.signal}` : `code ${st.code}`;
      const killed = this.#killedAtMb;
      const oom = /out of memory|heap limit/i.test(this.#stderr) || st.code === 133 || !!killed;
      const cap = options.memoryMb ? ` of ${options.memoryMb} MB` : "";
      const rssCap = `${options.memoryMb} + ${PROCESS_RSS_OVERHEAD_MB} MB`;
      const detail = killed
        ? `killed at RSS ${Math.round(killed)} MB, over ${rssCap}`
        : `Worker process exited with ${how}: out of memory`;
      const message = oom
        ? `exceeded its memory limit${cap} in a worker process (${detail})`
        : `Worker process exited with ${how}`;
      const error = Object.assign(new Error(message), oom ? { name: "MemoryLimitError" } : {});
      this.onerror?.({ message, error, preventDefault() {} } as ErrorEvent);
    });
  }

  postMessage(msg: ToWorker): void {
    if (!this.#alive) return;
    const buf = encoder.encode(JSON.stringify(msg) + "\n");
    this.#writes = this.#writes.then(() => this.#writer.write(buf)).catch(() => {});
  }

  terminate(): void {
    if (!this.#alive) return;
    this.#alive = false;
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
    this.#writer.close().catch(() => {});
  }

  async #readStdout(): Promise<void> {
    let rest = "";
    try {
      for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
        rest += chunk;
        let nl: number;
        while ((nl = rest.indexOf("\n")) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          // Only protocol lines carry the nonce; anything else a plugin printed is dropped.
          if (this.#alive && line.startsWith(this.#nonce)) {
            const data = JSON.parse(line.slice(this.#nonce.length)) as FromWorker;
            this.onmessage?.({ data } as MessageEvent<FromWorker>);
          }
        }
      }
    } catch { /* the child died; status reports it */ }
  }

  async #readStderr(): Promise<void> {
    try {
      for await (const chunk of this.#child.stderr.pipeThrough(new TextDecoderStream())) {
        this.#stderr = (this.#stderr + chunk).slice(-4096);
      }
    } catch { /* ignore */ }
  }
}

function childArgs(nonce: string, options: ProcessWorkerOptions): string[] {
  const v8 = options.memoryMb ? [`--v8-flags=--max-old-space-size=${options.memoryMb}`] : [];
  const exe = basename(Deno.execPath()).toLowerCase();
  if (!exe.startsWith("deno")) {
    // A compiled orch binary: it runs the worker itself; its permissions are baked in.
    return ["__process-worker", nonce];
  }
  const entry = new URL("./process_main.ts", import.meta.url);
  return [
    "run",
    "--quiet",
    "--no-prompt",
    ...permissionFlags(options.permissions),
    ...v8,
    fileURLToPath(entry),
    nonce,
  ];
}

/** Deno CLI flags for a permission set, or for what this process was granted. */
function permissionFlags(p: WorkerPermissions | undefined): string[] {
  if (!p) {
    const names = ["read", "write", "net", "env", "run", "sys", "ffi"] as const;
    const all = names.every((name) =>
      Deno.permissions.querySync({ name } as Deno.PermissionDescriptor).state === "granted"
    );
    if (all) return ["--allow-all"];
    return names
      .filter((name) =>
        Deno.permissions.querySync({ name } as Deno.PermissionDescriptor).state === "granted"
      )
      .map((name) => `--allow-${name}`);
  }
  const flags = [`--allow-read=${p.read.join(",")}`];
  for (
    const [name, v] of [["write", p.write], ["net", p.net], ["env", p.env], ["run", p.run], [
      "sys",
      p.sys,
    ]] as const
  ) {
    if (v && v.length) flags.push(`--allow-${name}=${v.join(",")}`);
  }
  return flags;
}
