import process from "node:process";
import { type Document, isMap, isScalar, LineCounter, parseDocument } from "yaml";

/** A located YAML problem. */
export interface YamlProblem {
  message: string;
  line?: number;
  column?: number;
}

/** A parsed YAML document that can locate paths. */
export interface LocatedDocument {
  /** The plain JS value, or undefined when the document could not be converted. */
  value: unknown;
  problems: YamlProblem[];
  /** Line and column of the node at `path` (or of `key` inside the map at `path`). */
  locate(path: readonly PropertyKey[], key?: string): { line: number; column: number } | undefined;
}

/** Most aliases a document may expand; more means an alias bomb. */
const MAX_ALIASES = 100;
/** Most distinct syntax errors reported; the rest are usually consequences of the first. */
const MAX_SYNTAX_ERRORS = 3;

/**
 * Parses YAML text, keeping positions. Never throws for bad input: every syntax error,
 * duplicate key and alias bomb becomes a {@link YamlProblem}.
 * @param source The YAML text.
 * @returns The value, its problems and a locator.
 */
export function parseLocated(source: string): LocatedDocument {
  const lineCounter = new LineCounter();
  let doc: Document.Parsed;
  // npm:yaml reads process.env.LOG_TOKENS once per token; under Deno each read is an
  // op with a permission check (about 15% of a 10k-task parse). Its debug logging is of
  // no use here, so it parses against an empty env; the parse is synchronous, so no
  // other code can observe the swap.
  const env = process.env;
  try {
    process.env = {};
    doc = parseDocument(source, { lineCounter, uniqueKeys: true, prettyErrors: false });
  } catch (err) {
    return { value: undefined, problems: [{ message: describe(err) }], locate: () => undefined };
  } finally {
    process.env = env;
  }
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const problems: YamlProblem[] = [];
  const seen = new Set<string>();
  for (const e of doc.errors) {
    const at = pos(e.pos[0]);
    const message = e.code === "DUPLICATE_KEY"
      ? `duplicate key "${keyAt(source, e.pos[0])}"`
      : describe(e);
    // Syntax errors cascade; the first few distinct ones are what helps.
    if (seen.has(message) || (e.code !== "DUPLICATE_KEY" && seen.size >= MAX_SYNTAX_ERRORS)) {
      continue;
    }
    seen.add(message);
    problems.push({ message, ...at });
  }
  let value: unknown;
  if (problems.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (err) {
      problems.push({ message: describe(err) });
    }
  }
  function locate(path: readonly PropertyKey[], key?: string) {
    try {
      const node = path.length === 0 ? doc.contents : doc.getIn(path as unknown[], true);
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

function keyAt(source: string, offset: number): string {
  const m = /^[^:\n]*/.exec(source.slice(offset, offset + 200));
  return (m?.[0] ?? "").trim().replace(/^["']|["']$/g, "");
}

function firstLine(s: string): string {
  return s.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
}

function describe(err: unknown): string {
  if (/call stack/i.test((err as Error)?.message ?? "")) {
    return "document is nested too deeply";
  }
  const msg = err instanceof Error ? err.message : String(err);
  if (/alias/i.test(msg)) return `too many aliases (limit ${MAX_ALIASES}): ${firstLine(msg)}`;
  return firstLine(msg);
}
