import type { JsonObject } from "../workflows/types.ts";

/** A key added and deleted at once: it puts the new params object in dictionary mode. */
const DICTIONARY = Symbol("dictionary");

/**
 * Params an attempt receives: the task's own params, then each direct upstream's output
 * keys as `<upstream_id>__<key>` (in `depends_on` order), then run params as
 * `run__<key>`. A key already present is never overwritten, so the task's own params
 * always win. Pure.
 *
 * The result is made a dictionary-mode object before the upstream keys go in: their
 * `<upstream_id>__<key>` names are new in nearly every task, and in V8 each new name added
 * to an ordinary object makes a new hidden class (docs/PERFORMANCE.md, eighth round).
 * @param own The task's own params.
 * @param upstream `[taskId, output]` of each direct dependency.
 * @param runParams Params of the whole run (from a schedule), if any.
 * @returns A new params object.
 */
export function mergePayload(
  own: Readonly<JsonObject>,
  upstream: readonly (readonly [string, Readonly<JsonObject>])[],
  runParams?: Readonly<JsonObject>,
): JsonObject {
  const params = { [DICTIONARY]: 0, ...own } as JsonObject & { [DICTIONARY]?: number };
  delete params[DICTIONARY];
  for (const [id, output] of upstream) {
    for (const k in output) {
      const key = `${id}__${k}`;
      if (!(key in params)) params[key] = output[k];
    }
  }
  if (runParams) {
    for (const k in runParams) {
      const key = `run__${k}`;
      if (!(key in params)) params[key] = runParams[k];
    }
  }
  return params;
}
