import type { OnWarning } from "./_scan.ts";

/**
 * The sidecar that persists per-schedule watermarks next to the state file:
 * `{"v":1,"watermarks":{"<schedule_id>":"<ISO instant>"}}`. Written whole to a temp
 * file and renamed over the old one, so a reader sees the old or the new file,
 * never a mix. Writers hold the state file's exclusive lock.
 */

/**
 * The sidecar path for a state file.
 * @param statePath The state JSONL file.
 * @returns `<statePath>.watermarks.json`.
 */
export function watermarksPath(statePath: string): string {
  return `${statePath}.watermarks.json`;
}

/**
 * Reads the watermarks; a missing file is empty, a corrupt one is reported and read as empty.
 * @param path The sidecar path.
 * @param onWarning Receives a corrupt file.
 * @returns Schedule id to the last tick handled.
 */
export async function readWatermarks(
  path: string,
  onWarning: OnWarning,
): Promise<Map<string, Date>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return new Map();
    throw err;
  }
  const out = new Map<string, Date>();
  try {
    const data = JSON.parse(text);
    for (const [id, iso] of Object.entries(data?.watermarks ?? {})) {
      const at = new Date(String(iso));
      if (!Number.isNaN(at.getTime())) out.set(id, at);
    }
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    onWarning({ file: path, offset: 0, message: `Ignoring corrupt watermarks "${path}": ${why}` });
  }
  return out;
}

/**
 * Merges `updates` into the sidecar, keeping the later instant per schedule, and
 * replaces the file atomically. Caller must hold the state file's exclusive lock.
 * @param path The sidecar path.
 * @param updates New watermarks.
 * @param onWarning Receives a corrupt existing file.
 * @returns The merged watermarks.
 */
export async function writeWatermarks(
  path: string,
  updates: ReadonlyMap<string, Date>,
  onWarning: OnWarning,
): Promise<Map<string, Date>> {
  const merged = await readWatermarks(path, onWarning);
  for (const [id, at] of updates) {
    const old = merged.get(id);
    if (!old || old.getTime() < at.getTime()) merged.set(id, at);
  }
  const watermarks: Record<string, string> = {};
  for (const [id, at] of [...merged].sort((a, b) => a[0].localeCompare(b[0]))) {
    watermarks[id] = at.toISOString();
  }
  // One fixed name: writers hold the exclusive lock, and a file left by a writer killed
  // mid-save is simply overwritten (no temp files pile up).
  const tmp = `${path}.tmp`;
  const data = new TextEncoder().encode(JSON.stringify({ v: 1, watermarks }, null, 2) + "\n");
  try {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      let off = 0;
      while (off < data.length) off += await file.write(data.subarray(off));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  return merged;
}
