import process from "node:process";
import { type Document, Lexer, LineCounter, parseDocument } from "yaml";

/** A located YAML problem; `line` and `column` are 1-based. */
export interface YamlProblem {
  message: string;
  line?: number;
  column?: number;
}

/** A YAML document parsed by {@link parseYaml}. */
export interface ParsedYaml {
  /** The document, or `null` when it was not parsed at all (see `problems`). */
  doc: Document.Parsed | null;
  /** Syntax errors, duplicate keys and nesting problems, deduplicated, in document order. */
  problems: YamlProblem[];
  /** Line and column of a character offset. */
  pos(offset: number): { line: number; column: number };
}

/** Most aliases a document may expand; more means an alias bomb ("billion laughs"). */
export const MAX_YAML_ALIASES = 100;
/** Deepest flow nesting (`[` and `{`) accepted; deeper input is rejected before parsing. */
export const MAX_YAML_FLOW_DEPTH = 256;
/** Most distinct syntax errors reported; the rest are usually consequences of the first. */
const MAX_SYNTAX_ERRORS = 3;

/**
 * Parses untrusted YAML text, keeping positions. Never throws: every syntax error,
 * duplicate key and over-deep document becomes a {@link YamlProblem}, and the `yaml`
 * package prints no warnings. Flow nesting deeper than {@link MAX_YAML_FLOW_DEPTH} is
 * refused before the parser sees it (the parser is slow and recursive on deep flows).
 * @param source The YAML text.
 * @returns The document (if parsed), its problems and a position lookup.
 */
export function parseYaml(source: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const tooDeep = flowDepthProblem(source);
  if (tooDeep) return { doc: null, problems: [tooDeep], pos: () => ({ line: 0, column: 0 }) };
  let doc: Document.Parsed;
  // npm:yaml reads process.env.LOG_TOKENS once per token; under Deno each read is an op
  // with a permission check (about 15% of a 10k-task parse). Its debug logging is of no
  // use here, so it parses against an empty env; the parse is synchronous, so no other
  // code can observe the swap.
  const env = process.env;
  try {
    process.env = {};
    doc = parseDocument(source, {
      lineCounter,
      uniqueKeys: true,
      prettyErrors: false,
      logLevel: "error",
    });
  } catch (err) {
    return { doc: null, problems: [{ message: describeYamlError(err) }], pos };
  } finally {
    process.env = env;
  }
  const problems: YamlProblem[] = [];
  const seen = new Set<string>();
  for (const e of doc.errors) {
    const message = e.code === "DUPLICATE_KEY"
      ? `duplicate key "${keyAt(source, e.pos[0])}"`
      : describeYamlError(e);
    // Syntax errors cascade; the first few distinct ones are what helps.
    if (seen.has(message) || (e.code !== "DUPLICATE_KEY" && seen.size >= MAX_SYNTAX_ERRORS)) {
      continue;
    }
    seen.add(message);
    problems.push({ message, ...pos(e.pos[0]) });
  }
  return { doc, problems, pos };
}

/**
 * Describes anything the `yaml` package threw or reported, as one line.
 * @param err The error.
 * @returns Its first line; stack overflows and alias limits in plain words.
 */
export function describeYamlError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/call stack|stack overflow/i.test(msg)) return "document is nested too deeply";
  if (/alias/i.test(msg)) return `too many aliases (limit ${MAX_YAML_ALIASES}): ${firstLine(msg)}`;
  return firstLine(msg);
}

function flowDepthProblem(source: string): YamlProblem | null {
  // Cheap pre-check: fewer brackets than the limit cannot nest past it.
  let brackets = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) brackets++;
  }
  if (brackets <= MAX_YAML_FLOW_DEPTH) return null;
  // The lexer knows quotes, comments and block scalars; count real flow indicators.
  let depth = 0;
  let offset = 0;
  for (const token of new Lexer().lex(source)) {
    if (token === "[" || token === "{") depth++;
    else if (token === "]" || token === "}") depth = Math.max(0, depth - 1);
    if (depth > MAX_YAML_FLOW_DEPTH) {
      const before = source.slice(0, offset);
      const line = before.split("\n").length;
      const column = offset - before.lastIndexOf("\n");
      const message = `document is nested too deeply (limit ${MAX_YAML_FLOW_DEPTH} levels)`;
      return { message, line, column };
    }
    if (!isControlToken(token)) offset += token.length;
  }
  return null;
}

/** The lexer's zero-width markers: document start, flow error end, scalar. */
function isControlToken(token: string): boolean {
  return token.length === 1 && "\x02\x18\x1f".includes(token);
}

function keyAt(source: string, offset: number): string {
  const m = /^[^:\n]*/.exec(source.slice(offset, offset + 200));
  return (m?.[0] ?? "").trim().replace(/^["']|["']$/g, "");
}

function firstLine(s: string): string {
  return s.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
}
