/**
 * Edit distance between two strings (Levenshtein, insert/delete/substitute cost 1).
 * @param a First string.
 * @param b Second string.
 * @returns The number of edits.
 */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/** Most edit-distance cells one {@link suggest} call computes: a hint must stay cheap. */
const SUGGEST_BUDGET = 1 << 20;

/**
 * The known names closest to `name`, for a "did you mean" hint. The work is bounded
 * (about a million character comparisons) whatever the sizes of `name` and `known`:
 * names whose lengths differ by more than the limit are not compared, and once the
 * budget is spent the remaining names are not considered.
 * @param name What the user wrote.
 * @param known The valid names.
 * @returns Up to 3 names within a distance of a third of the name's length (at least 2).
 */
export function suggest(name: string, known: Iterable<string>): string[] {
  const limit = Math.max(2, Math.floor(name.length / 3));
  const lower = name.toLowerCase();
  const scored: [number, string][] = [];
  let budget = SUGGEST_BUDGET;
  for (const k of known) {
    const kl = k.toLowerCase();
    if (kl.includes(lower)) {
      scored.push([Math.abs(kl.length - lower.length), k]);
      continue;
    }
    // The distance is at least the difference in length.
    if (Math.abs(kl.length - lower.length) > limit) continue;
    budget -= kl.length * lower.length;
    if (budget < 0) break;
    const d = editDistance(lower, kl);
    if (d <= limit) scored.push([d, k]);
  }
  return scored.sort((x, y) => x[0] - y[0] || x[1].localeCompare(y[1])).slice(0, 3).map((s) =>
    s[1]
  );
}
