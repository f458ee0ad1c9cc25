import type { JsonObject } from "../workflows/types.ts";

/** A key added and deleted at once: it puts the new params object in dictionary mode. */
const DICTIONARY = Symbol("dictionary");

/**
 * Params an attempt receives: the task's own params, then each direct upstream's output
 * keys as `<upstream_id>__<key>` (in `depends_on` order), then run params as
 * `run__<key>`. A key already present is never overwritten, so the task's own params
 * always win. Pure.
 * @param own The task's own params.
 * @param upstream `[taskId, output]` of each direct dependency.
 * @param runParams Params of the whole run (from a schedule), if any.
 * @param options `dictionary`: build the result as a dictionary-mode object (V8), for
 *   upstream ids not seen before. In V8 each new property name added to an ordinary object
 *   makes a new hidden class, and `<upstream_id>__<key>` names are new in every task of a
 *   chain; when many tasks share one upstream (a fan), the hidden classes are shared and
 *   the ordinary object is the faster one (docs/PERFORMANCE.md, eighth round).
 * @returns A new params object.
 */
export function mergePayload(
  own: Readonly<JsonObject>,
  upstream: readonly (readonly [string, Readonly<JsonObject>])[],
  runParams?: Readonly<JsonObject>,
  options?: { dictionary?: boolean },
): JsonObject {
  let params: JsonObject;
  if (options?.dictionary) {
    const p = { [DICTIONARY]: 0, ...own } as JsonObject & { [DICTIONARY]?: number };
    delete p[DICTIONARY];
    params = p;
  } else params = { ...own };
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
