/**
 * A new run id: sortable by start time, unique across processes.
 * Form: `YYYYMMDDTHHMMSSmmmZ-xxxxxxxx` (UTC, 8 random hex digits).
 * @param now The start instant.
 * @returns The run id.
 */
export function newRunId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:.]/g, "");
  const rand = crypto.getRandomValues(new Uint32Array(1))[0].toString(16).padStart(8, "0");
  return `${stamp}-${rand}`;
}
