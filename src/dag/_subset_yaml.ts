/**
 * A fast path for DAG files: parses the subset of YAML that orch's DAG files use to
 * plain JS values, without building npm:yaml's document tree (which costs about 170
 * bytes per byte of YAML: 240 MB for a 10,000-task DAG).
 *
 * The subset: block maps with plain keys, block sequences, single-line flow sequences
 * and maps, plain scalars (strings, decimal integers and fractions, `true`/`false`,
 * `null`/`~`), quoted scalars without escapes, and `#` comments. Anything else (anchors,
 * tags, block scalars, multi-line scalars, escapes, directives, tabs, CRLF, duplicate
 * keys, numbers in other notations, ...) makes {@link parseSubset} give up, and the
 * caller parses with npm:yaml as before. Where it does not give up, its value equals
 * npm:yaml's (YAML 1.2 core schema) for the same text (tests/dag/subset_yaml_test.ts).
 * @module
 */

/** Thrown internally when the text leaves the subset. */
const OUTSIDE = new Error("outside the DAG subset of YAML");

const SPACE = 32;
const HASH = 35;
const DASH = 45;
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const INT = /^-?(?:0|[1-9][0-9]{0,14})$/;
const FRACTION = /^-?(?:0|[1-9][0-9]{0,14})\.[0-9]{1,15}$/;
/** Characters a plain scalar may not start with (YAML indicators, digits, signs, dot). */
const NOT_PLAIN_START = /^[-?:,[\]{}#&*!|>'"%@`0-9+.~]/;
/** Tabs, CR, control characters, BOM and Unicode line breaks: left to npm:yaml. */
// deno-lint-ignore no-control-regex
const UNUSUAL_CHARS = /[\x00-\x09\x0b-\x1f\x7f\x85\u2028\u2029\ufeff]/;
const NULLS = new Set(["null", "Null", "NULL"]);
const BOOLS = new Map([
  ["true", true],
  ["True", true],
  ["TRUE", true],
  ["false", false],
  ["False", false],
  ["FALSE", false],
]);

/**
 * Parses YAML text that stays within orch's DAG subset.
 * @param source The YAML text.
 * @returns The plain value, or `undefined` when the text is outside the subset (or
 *   empty, or not a map at the top): parse it with npm:yaml then.
 */
export function parseSubset(source: string): Record<string, unknown> | undefined {
  if (UNUSUAL_CHARS.test(source)) return undefined;
  try {
    return new SubsetParser(source).document();
  } catch {
    // OUTSIDE, or a RangeError from nesting too deep: npm:yaml reports what it is.
    return undefined;
  }
}

class SubsetParser {
  readonly lines: string[];
  i = 0;

  constructor(source: string) {
    this.lines = source.split("\n");
  }

  document(): Record<string, unknown> {
    if (this.peek() !== 0 || this.isDash(0)) throw OUTSIDE;
    const value = this.map(0, 0);
    if (this.peek() !== -1) throw OUTSIDE;
    return value;
  }

  /** Skips blank and comment lines; returns the indent of the next line, -1 at the end. */
  peek(): number {
    const lines = this.lines;
    while (this.i < lines.length) {
      const l = lines[this.i];
      let k = 0;
      while (l.charCodeAt(k) === SPACE) k++;
      if (k === l.length || l.charCodeAt(k) === HASH) {
        this.i++;
        continue;
      }
      return k;
    }
    return -1;
  }

  /** Whether the current line has a sequence dash at `col`. */
  isDash(col: number): boolean {
    const l = this.lines[this.i];
    if (l.charCodeAt(col) !== DASH) return false;
    const next = l.charCodeAt(col + 1);
    return next === SPACE || Number.isNaN(next);
  }

  /** A block node starting on the current line at its indent `n`. */
  block(n: number): unknown {
    return this.isDash(n) ? this.seq(n) : this.map(n, n);
  }

  /**
   * A block map whose keys sit at column `indent`; its first key is on the current line
   * at `col` (after a sequence dash, or `col === indent`).
   */
  map(indent: number, col: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (;;) {
      const l = this.lines[this.i];
      const colon = l.indexOf(":", col);
      if (colon < 0) throw OUTSIDE;
      const key = l.slice(col, colon);
      if (!PLAIN_KEY.test(key) || key === "__proto__" || Object.hasOwn(out, key)) throw OUTSIDE;
      const after = l.charCodeAt(colon + 1);
      let k = colon + 1;
      while (l.charCodeAt(k) === SPACE) k++;
      if (k === l.length || (l.charCodeAt(k) === HASH && k > colon + 1)) {
        this.i++;
        const n = this.peek();
        if (n > indent) out[key] = this.block(n);
        else if (n === indent && this.isDash(n)) out[key] = this.seq(n);
        else out[key] = null;
      } else {
        if (after !== SPACE) throw OUTSIDE;
        out[key] = this.inline(l, k);
        this.i++;
        if (this.peek() > indent) throw OUTSIDE; // a multi-line scalar or a nested error
      }
      if (this.peek() !== indent || this.isDash(indent)) return out;
      col = indent;
    }
  }

  /** A block sequence whose dashes sit at column `indent`. */
  seq(indent: number): unknown[] {
    const out: unknown[] = [];
    while (this.peek() === indent && this.isDash(indent)) {
      const l = this.lines[this.i];
      let c = indent + 1;
      while (l.charCodeAt(c) === SPACE) c++;
      if (c === l.length || l.charCodeAt(c) === HASH) {
        this.i++;
        const n = this.peek();
        out.push(n > indent ? this.block(n) : null);
      } else if (/^[A-Za-z_][A-Za-z0-9_-]*:(?: |$)/.test(l.slice(c, c + 200))) {
        out.push(this.map(c, c));
      } else {
        out.push(this.inline(l, c));
        this.i++;
        if (this.peek() > indent) throw OUTSIDE;
      }
    }
    return out;
  }

  /** A value that ends on this line, starting at `k`; only a comment may follow it. */
  inline(l: string, k: number): unknown {
    const c = l[k];
    if (c === "[" || c === "{" || c === '"' || c === "'") {
      const r = { at: k };
      const value = flowNode(l, r);
      let e = r.at;
      while (l.charCodeAt(e) === SPACE) e++;
      if (e < l.length && !(l.charCodeAt(e) === HASH && e > r.at)) throw OUTSIDE;
      return value;
    }
    let end = l.indexOf(" #", k);
    if (end < 0) end = l.length;
    const text = l.slice(k, end).trimEnd();
    if (text.includes(": ") || text.endsWith(":")) throw OUTSIDE;
    return plainScalar(text, false);
  }
}

/** A flow node at `r.at`; advances `r.at` past it. */
function flowNode(l: string, r: { at: number; depth?: number }): unknown {
  const c = l[r.at];
  if (c === "[") return flowSeq(l, r);
  if (c === "{") return flowMap(l, r);
  if (c === '"' || c === "'") return quoted(l, r);
  const start = r.at;
  let k = start;
  while (k < l.length && !",[]{}:#".includes(l[k])) k++;
  r.at = k;
  return plainScalar(l.slice(start, k).trimEnd(), true);
}

function skipSpaces(l: string, r: { at: number }): void {
  while (l.charCodeAt(r.at) === SPACE) r.at++;
}

/** Deeper flow nesting leaves the subset: the guarded parser reports it (src/lib/yaml.ts). */
const MAX_FLOW_DEPTH = 32;

function enter(r: { at: number; depth?: number }): void {
  r.depth = (r.depth ?? 0) + 1;
  if (r.depth > MAX_FLOW_DEPTH) throw OUTSIDE;
}

function flowSeq(l: string, r: { at: number; depth?: number }): unknown[] {
  const out: unknown[] = [];
  enter(r);
  r.at++;
  skipSpaces(l, r);
  if (l[r.at] === "]") {
    r.at++;
    r.depth!--;
    return out;
  }
  for (;;) {
    skipSpaces(l, r);
    out.push(flowNode(l, r));
    skipSpaces(l, r);
    const c = l[r.at++];
    if (c === "]") {
      r.depth!--;
      return out;
    }
    if (c !== ",") throw OUTSIDE;
  }
}

function flowMap(l: string, r: { at: number; depth?: number }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  enter(r);
  r.at++;
  skipSpaces(l, r);
  if (l[r.at] === "}") {
    r.at++;
    r.depth!--;
    return out;
  }
  for (;;) {
    skipSpaces(l, r);
    const colon = l.indexOf(":", r.at);
    if (colon < 0) throw OUTSIDE;
    const key = l.slice(r.at, colon);
    if (!PLAIN_KEY.test(key) || key === "__proto__" || Object.hasOwn(out, key)) throw OUTSIDE;
    if (l.charCodeAt(colon + 1) !== SPACE) throw OUTSIDE;
    r.at = colon + 1;
    skipSpaces(l, r);
    out[key] = flowNode(l, r);
    skipSpaces(l, r);
    const c = l[r.at++];
    if (c === "}") {
      r.depth!--;
      return out;
    }
    if (c !== ",") throw OUTSIDE;
  }
}

/** A quoted scalar without escapes (`''` in single quotes is one quote). */
function quoted(l: string, r: { at: number }): string {
  const q = l[r.at];
  if (q === '"') {
    const end = l.indexOf('"', r.at + 1);
    if (end < 0) throw OUTSIDE;
    const text = l.slice(r.at + 1, end);
    if (text.includes("\\")) throw OUTSIDE;
    r.at = end + 1;
    return text;
  }
  let text = "";
  let k = r.at + 1;
  for (;;) {
    const end = l.indexOf("'", k);
    if (end < 0) throw OUTSIDE;
    text += l.slice(k, end);
    if (l[end + 1] !== "'") {
      r.at = end + 1;
      return text;
    }
    text += "'";
    k = end + 2;
  }
}

/** Resolves a plain scalar as YAML 1.2's core schema does, within the subset. */
function plainScalar(text: string, flow: boolean): unknown {
  if (text === "") throw OUTSIDE;
  if (INT.test(text)) {
    if (text === "-0") throw OUTSIDE;
    return Number(text);
  }
  if (FRACTION.test(text)) return Number(text);
  if (text === "~") return null;
  if (NOT_PLAIN_START.test(text) || text.includes(" #")) throw OUTSIDE;
  if (flow && /[,[\]{}]/.test(text)) throw OUTSIDE;
  if (NULLS.has(text)) return null;
  const b = BOOLS.get(text);
  if (b !== undefined) return b;
  if (/^(?:\.?(?:inf|Inf|INF|nan|NaN|NAN))$/.test(text)) throw OUTSIDE;
  return text;
}
