/** Values as JSON text, each distinct one once, and where each value went. */
export interface Distinct {
  /** A JSON array of the distinct values, in first-seen order. */
  json: string;
  /** Each value's place in that array. */
  index: number[];
}

/**
 * Each distinct value (by its JSON text) once, and each value's place among them: a
 * submit sends a run's repeated workflow sources and task specs once each.
 * @param values The values.
 * @returns The distinct values as one JSON array, and each value's index in it.
 */
export function distinctJson(values: readonly unknown[]): Distinct {
  const seen = new Map<string, number>();
  const index = values.map((v) => {
    const key = JSON.stringify(v);
    let i = seen.get(key);
    if (i === undefined) seen.set(key, i = seen.size);
    return i;
  });
  return { json: `[${[...seen.keys()].join(",")}]`, index };
}
