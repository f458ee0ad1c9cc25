/**
 * Parses one line of an event or state log.
 * @param text The line without its newline.
 * @returns The object, or null when the line is not a JSON object with a string `event`.
 */
export function parseEventLine(text: string): Record<string, unknown> | null {
  try {
    const value = JSON.parse(text);
    if (value && typeof value === "object" && !Array.isArray(value)) {
      if (typeof value.event === "string") return value;
    }
  } catch {
    // corrupt line: the caller counts it
  }
  return null;
}
