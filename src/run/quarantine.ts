/**
 * The memory quarantine: workflows that once drove orch past its memory limit while they
 * ran in a worker thread. From then on they run in worker processes with a capped heap,
 * where an unbounded allocation kills only that process and fails only its attempt.
 *
 * Stored as one small JSON file beside the state store (`<STATE_STORE_PATH>.quarantine.json`),
 * written whole to a temp file and renamed, so a reader never sees half of it. Two processes
 * adding at the same instant may lose one entry (the last rename wins); the workflow is
 * quarantined again at its next incident.
 * @module
 */
import { dirname } from "node:path";

/** Why and since when one workflow is quarantined. Persisted, so snake_case. */
export interface QuarantineEntry {
  /** The workflow's name (its file stem, or the built-in's name). */
  workflow: string;
  /** Its plugin file, or `built-in`. */
  source: string;
  /** When it was quarantined (ISO 8601). */
  since: string;
  /** The incident, in one sentence. */
  reason: string;
}

interface QuarantineFile {
  v: 1;
  workflows: QuarantineEntry[];
}

/**
 * @param statePath The JSONL state store path (`STATE_STORE_PATH`).
 * @returns Where the quarantine of that store lives.
 */
export function quarantinePath(statePath: string): string {
  return `${statePath}.quarantine.json`;
}

/**
 * Reads the quarantine. A missing file is an empty quarantine; an unreadable or damaged
 * one is reported through `onWarning` and read as empty (orch must still start).
 * @param path The quarantine file.
 * @param options `onWarning`: called with a one-line explanation of a damaged file.
 * @returns The entries by workflow name.
 */
export function readQuarantine(
  path: string,
  options: { onWarning?: (message: string) => void } = {},
): Map<string, QuarantineEntry> {
  const out = new Map<string, QuarantineEntry>();
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      options.onWarning?.(`Cannot read quarantine "${path}": ${(err as Error).message}`);
    }
    return out;
  }
  try {
    const file = JSON.parse(text) as Partial<QuarantineFile>;
    for (const e of Array.isArray(file.workflows) ? file.workflows : []) {
      if (e && typeof e.workflow === "string") out.set(e.workflow, e);
    }
  } catch {
    options.onWarning?.(`Cannot read quarantine "${path}": not JSON; ignoring it`);
  }
  return out;
}

/**
 * Adds workflows to the quarantine (an entry already there is kept as it was).
 * Synchronous: called while the process is about to stop.
 * @param path The quarantine file.
 * @param entries The workflows to add.
 * @throws {Deno.errors.PermissionDenied} and other I/O errors when it cannot be written.
 */
export function addToQuarantine(path: string, entries: QuarantineEntry[]): void {
  const all = readQuarantine(path);
  for (const e of entries) if (!all.has(e.workflow)) all.set(e.workflow, e);
  writeQuarantine(path, [...all.values()]);
}

/**
 * Removes workflows from the quarantine.
 * @param path The quarantine file.
 * @param names Workflow names, or `"all"`.
 * @returns The names that were removed.
 */
export function releaseFromQuarantine(path: string, names: string[] | "all"): string[] {
  const all = readQuarantine(path);
  const gone = names === "all" ? [...all.keys()] : names.filter((n) => all.has(n));
  if (gone.length === 0) return [];
  for (const n of gone) all.delete(n);
  if (all.size === 0) Deno.removeSync(path);
  else writeQuarantine(path, [...all.values()]);
  return gone;
}

function writeQuarantine(path: string, workflows: QuarantineEntry[]): void {
  Deno.mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}`;
  const file: QuarantineFile = { v: 1, workflows };
  Deno.writeTextFileSync(tmp, JSON.stringify(file, null, 2) + "\n");
  Deno.renameSync(tmp, path);
}
