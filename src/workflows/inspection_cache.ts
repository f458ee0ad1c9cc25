import { replaceFile } from "../lib/replace_file.ts";
import type { WorkflowInfo } from "../pool/protocol.ts";
import type { JsonObject } from "./types.ts";
import type { WorkflowRegistry, WorkflowSource } from "./registry.ts";

/** What an inspection that found nothing wrong learnt about a workflow and its params. */
type Facts = Pick<WorkflowInfo, "name" | "permissions" | "isolation">;

const MAX_ENTRIES = 500;

/**
 * Remembers the inspections `prepareRun` asked a worker for (a plugin imported, its
 * permissions and isolation read, each task's params checked against its schema) that
 * found nothing wrong, so that a `scheduler --once` minute with a due DAG runs it without
 * first waiting for a worker to inspect it: the run's own worker starts while the main
 * thread records the run. Keyed by the plugin file's path, mtime, size and inode (as the
 * registry scanned it), the sandbox settings, the params, orch's and Deno's versions; any
 * change inspects again.
 * Built-in workflows and failed inspections are never remembered. Concurrency: writers
 * replace the file whole (temp file + rename); the last one wins, which can only cost an
 * inspection.
 */
export class InspectionCache {
  readonly path: string;
  readonly #version: string;
  #entries: Record<string, Facts>;
  #dirty = false;

  private constructor(path: string, version: string, entries: Record<string, Facts>) {
    this.path = path;
    this.#version = version;
    this.#entries = entries;
  }

  /**
   * @param path The cache file (created on save).
   * @param version orch's version: entries of another version are ignored.
   * @returns The cache; empty when the file is missing, unreadable or of another version.
   */
  static async load(path: string, version: string): Promise<InspectionCache> {
    try {
      const data = JSON.parse(await Deno.readTextFile(path));
      const ok = data?.v === 1 && data.orch === version && data.deno === Deno.version.deno &&
        data.entries && typeof data.entries === "object";
      return new InspectionCache(path, version, ok ? data.entries : {});
    } catch {
      return new InspectionCache(path, version, {});
    }
  }

  /**
   * @param registry The registry `source` came from.
   * @param source A workflow source.
   * @param paramSets The params to check against its schema.
   * @returns What an earlier inspection of the same file and params found, or `undefined`.
   */
  get(
    registry: WorkflowRegistry,
    source: WorkflowSource,
    paramSets: JsonObject[],
  ): WorkflowInfo | undefined {
    const k = entryKey(registry, source, paramSets);
    const facts = k === undefined ? undefined : this.#entries[k];
    return facts && { ...facts, issues: paramSets.map(() => []) };
  }

  /**
   * Records an inspection, if it found nothing wrong and the source is a scanned file.
   * @param registry The registry `source` came from.
   * @param source The workflow source.
   * @param paramSets The params it checked.
   * @param info What it found.
   */
  remember(
    registry: WorkflowRegistry,
    source: WorkflowSource,
    paramSets: JsonObject[],
    info: WorkflowInfo,
  ): void {
    const k = entryKey(registry, source, paramSets);
    if (k === undefined || info.error || info.issues.some((i) => i.length > 0)) return;
    if (this.#entries[k]) return;
    const keys = Object.keys(this.#entries);
    if (keys.length >= MAX_ENTRIES) delete this.#entries[keys[0]];
    this.#entries[k] = {
      name: info.name,
      permissions: info.permissions,
      isolation: info.isolation,
    };
    this.#dirty = true;
  }

  /** Writes the cache if it changed; a failure to write is ignored (it is only a cache). */
  async save(): Promise<void> {
    if (!this.#dirty) return;
    const data = { v: 1, orch: this.#version, deno: Deno.version.deno, entries: this.#entries };
    if (await replaceFile(this.path, JSON.stringify(data))) this.#dirty = false;
  }
}

function entryKey(
  registry: WorkflowRegistry,
  source: WorkflowSource,
  paramSets: JsonObject[],
): string | undefined {
  const identity = registry.fileIdentity(source);
  return identity && JSON.stringify([identity, registry.sandbox ?? null, paramSets]);
}
