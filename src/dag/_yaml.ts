import { isMap, isScalar } from "yaml";
import { describeYamlError, MAX_YAML_ALIASES, parseYaml, type YamlProblem } from "../lib/mod.ts";

/** A parsed YAML document that can locate paths. */
export interface LocatedDocument {
  /** The plain JS value, or undefined when the document could not be converted. */
  value: unknown;
  problems: YamlProblem[];
  /** Line and column of the node at `path` (or of `key` inside the map at `path`). */
  locate(path: readonly PropertyKey[], key?: string): { line: number; column: number } | undefined;
}

/**
 * Parses YAML text, keeping positions. Never throws for bad input: every syntax error,
 * duplicate key, over-deep document and alias bomb becomes a {@link YamlProblem}.
 * @param source The YAML text.
 * @returns The value, its problems and a locator.
 */
export function parseLocated(source: string): LocatedDocument {
  const { doc, problems, pos } = parseYaml(source);
  if (!doc) return { value: undefined, problems, locate: () => undefined };
  let value: unknown;
  if (problems.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
    } catch (err) {
      problems.push({ message: describeYamlError(err), ...pos(doc.contents?.range?.[0] ?? 0) });
    }
  }
  function locate(path: readonly PropertyKey[], key?: string) {
    try {
      const node = path.length === 0 ? doc!.contents : doc!.getIn(path as unknown[], true);
      if (key !== undefined && isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
        const range = isScalar(pair?.key) ? pair.key.range : undefined;
        if (range) return pos(range[0]);
      }
      const range = (node as { range?: [number, number, number] } | null)?.range;
      return range ? pos(range[0]) : undefined;
    } catch {
      return undefined;
    }
  }
  return { value, problems, locate };
}
