/**
 * Shared settings and generators of the loader fuzzers.
 *
 * Defaults keep `deno test` fast: a fixed seed and 300 runs per property. Go bigger with
 * `FUZZ_RUNS=20000 deno test -A tests/fuzz/`, and reproduce a failure with the seed (and
 * path) fast-check prints: `FUZZ_SEED=<seed> deno test -A tests/fuzz/`.
 */
import fc from "fast-check";
import { stringify } from "yaml";

/** Seed used unless `FUZZ_SEED` is set; fast-check prints it with every counterexample. */
export const DEFAULT_SEED = 20260601;

/** Longest a single case may take, in ms: a loader must never hang on any input. */
export const CASE_BOUND_MS = Number(Deno.env.get("FUZZ_CASE_MS") ?? 2000);

/**
 * @param defaultRuns Runs per property when `FUZZ_RUNS` is not set.
 * @returns fast-check parameters: seed, runs and a failure report that names the seed.
 */
export function fuzzParams(defaultRuns = 300): fc.Parameters<unknown> {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? DEFAULT_SEED);
  const numRuns = Number(Deno.env.get("FUZZ_RUNS") ?? defaultRuns);
  return { seed, numRuns, endOnFailure: true };
}

/**
 * Runs `fn` and fails when it took longer than {@link CASE_BOUND_MS}.
 * @param label What ran, for the failure message.
 * @param fn The case.
 * @returns What `fn` returns.
 */
export async function bounded<T>(label: string, fn: () => T | Promise<T>): Promise<T> {
  const t0 = performance.now();
  const result = await fn();
  const ms = performance.now() - t0;
  if (ms > CASE_BOUND_MS) throw new Error(`${label} took ${Math.round(ms)} ms`);
  return result;
}

/** Strings that try to escape a plugin name into a path or URL. */
export const TRAVERSAL = [
  "../../etc/passwd",
  "..",
  "/etc/passwd",
  "file:///etc/passwd",
  "https://x/y",
  "data:text/javascript,export default 1",
  "npm:left-pad",
  "jsr:@std/fs",
  "node:fs",
  "workflows/../../x",
  "C:\\Windows\\system32",
  "echo\u0000.ts",
  "echo.ts",
  "~/x",
  "%2e%2e%2fetc",
];

/** Numbers at the edges: huge, tiny, negative zero, unsafe integers, non-finite. */
export const EDGE_NUMBERS = [
  0,
  -0,
  -1,
  0.5,
  1e-300,
  1e21,
  1.7976931348623157e308,
  2 ** 53 + 2,
  -(2 ** 63),
  Number.POSITIVE_INFINITY,
  Number.NaN,
];

/** Any plain value a YAML document can hold, including edge numbers and odd strings. */
export const yamlValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  fc.anything({ maxDepth: 3, withNullPrototype: true, withBigInt: false }),
  fc.constantFrom<unknown>(...EDGE_NUMBERS, ...TRAVERSAL),
  fc.string({ unit: "binary" }),
);

/**
 * @param value Any value.
 * @returns YAML text for it; values `yaml` cannot stringify become their JSON, or `~`.
 */
export function toYaml(value: unknown): string {
  try {
    return stringify(value, { aliasDuplicateObjects: false }) ?? "~";
  } catch {
    return JSON.stringify(value) ?? "~";
  }
}

/** Text-level damage: truncation, duplicated or dropped lines, tabs, CRLF, a BOM, junk bytes. */
export const textMutation: fc.Arbitrary<(text: string) => string> = fc.oneof(
  fc.nat().map((n) => (t: string) => t.slice(0, n % (t.length + 1))),
  fc.nat().map((n) => (t: string) => {
    const lines = t.split("\n");
    const i = n % lines.length;
    return [...lines.slice(0, i + 1), lines[i], ...lines.slice(i + 1)].join("\n");
  }),
  fc.nat().map((n) => (t: string) => {
    const lines = t.split("\n");
    lines.splice(n % lines.length, 1);
    return lines.join("\n");
  }),
  fc.constant((t: string) => t.replace(/^( +)/gm, "\t")),
  fc.constant((t: string) => t.replaceAll("\n", "\r\n")),
  fc.constant((t: string) => "\uFEFF" + t),
  fc.tuple(fc.nat(), fc.string({ unit: "binary", minLength: 1, maxLength: 8 })).map(
    ([n, junk]) => (t: string) => {
      const i = n % (t.length + 1);
      return t.slice(0, i) + junk + t.slice(i);
    },
  ),
  fc.nat({ max: 400 }).map((depth) => (t: string) =>
    `${"[".repeat(depth)}${t}${"]".repeat(depth)}`
  ),
);

/** Bytes decoded as `Deno.readTextFile` does (invalid UTF-8 becomes U+FFFD). */
export const decodedBytes: fc.Arbitrary<string> = fc.uint8Array({ maxLength: 512 }).map((b) =>
  new TextDecoder().decode(b)
);
