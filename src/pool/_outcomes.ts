import type { JsonObject } from "../workflows/types.ts";
import type { JobOutcome } from "./task_pool.ts";

/** A successful outcome whose `output` is parsed from the worker's JSON on first use. */
export class OkOutcome {
  readonly ok = true;
  readonly outputJson: string;
  readonly startedAt: number;
  readonly endedAt: number;
  #output?: JsonObject;

  constructor(outputJson: string, startedAt: number, endedAt: number) {
    this.outputJson = outputJson;
    this.startedAt = startedAt;
    this.endedAt = endedAt;
  }

  get output(): JsonObject {
    return this.#output ??= JSON.parse(this.outputJson);
  }
}

/** The outcome of an attempt cancelled before or while it ran. */
export function cancelled(reason: string): JobOutcome {
  const now = Date.now();
  return {
    ok: false,
    error: { name: "CancelledError", message: reason },
    startedAt: now,
    endedAt: now,
    cancelled: true,
  };
}
