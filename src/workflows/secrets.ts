import type { JsonObject } from "./types.ts";

const REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Replacement for a secret value wherever it would be written. */
export const REDACTED = "***";

/**
 * Names of the environment variables that params refer to as `${env:NAME}`. Pure.
 * @param params Params (nested values are searched).
 * @returns The names, sorted and unique.
 */
export function secretRefs(params: unknown): string[] {
  const names = new Set<string>();
  walk(params, (s) => {
    for (const m of s.matchAll(REF)) names.add(m[1]);
    return s;
  });
  return [...names].sort();
}

/**
 * Replaces `${env:NAME}` in string values with `lookup(NAME)`. Returns new params and the
 * secret values used, for {@link redact}.
 * @param params The params.
 * @param lookup Reads a variable; may throw (e.g. NotCapable when not declared).
 * @returns The resolved params and the values substituted.
 * @throws {Error} Whatever lookup throws, or when a variable is unset.
 */
export function resolveSecrets(
  params: JsonObject,
  lookup: (name: string) => string | undefined,
): { params: JsonObject; secrets: string[] } {
  const secrets = new Set<string>();
  const out = walk(params, (s) =>
    s.replace(REF, (_, name: string) => {
      const v = lookup(name);
      if (v === undefined) {
        throw new Error(`Environment variable ${name} is not set (\${env:${name}})`);
      }
      if (v.length > 0) secrets.add(v);
      return v;
    })) as JsonObject;
  return { params: out, secrets: [...secrets].sort((a, b) => b.length - a.length) };
}

/**
 * Replaces every occurrence of the secret values in a text (plain or JSON) with `***`.
 * @param text Output JSON, an error message or a log line.
 * @param secrets The values to hide.
 * @returns The redacted text.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    out = out.split(s).join(REDACTED);
    const escaped = JSON.stringify(s).slice(1, -1);
    if (escaped !== s) out = out.split(escaped).join(REDACTED);
  }
  return out;
}

function walk(v: unknown, f: (s: string) => string): unknown {
  if (typeof v === "string") return v.includes("${env:") ? f(v) : v;
  if (Array.isArray(v)) return v.map((x) => walk(x, f));
  if (v && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = walk(x, f);
    return o;
  }
  return v;
}
