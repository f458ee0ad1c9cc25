/**
 * The text of a shipped migration's statement with edits, for a later version that
 * replaces a function: the new version shows only what changed, and the old text stays
 * as shipped.
 * @param text The statement as an earlier version shipped it.
 * @param edits `[from, to]` pairs, each replaced once, in order.
 * @param version The version being built (named in the error).
 * @returns The edited text.
 * @throws {Error} When a `from` is missing (the earlier text was edited).
 */
export function patched(text: string, edits: readonly [string, string][], version: number): string {
  let out = text;
  for (const [from, to] of edits) {
    if (!out.includes(from)) throw new Error(`migration ${version}: "${from}" not found`);
    out = out.replace(from, to);
  }
  return out;
}
