import { replaceFile } from "../lib/replace_file.ts";
import type { WorkflowRegistry } from "../workflows/registry.ts";

/** One DAG file that passed full validation, and what the verdict depended on. */
interface Entry {
  fingerprint: string;
  dagName: string;
}

/**
 * Remembers DAG files that passed full validation (`prepareRun`: structure, plan,
 * workflows and their params), so `scheduler --once`, called by cron every minute, does not
 * start a worker to re-check params nobody changed. The fingerprint covers the DAG file's
 * mtime and size, each workflow's source (plugin URLs carry the file's mtime), the sandbox
 * settings and orch's version; any change re-validates. Only successes are remembered.
 * Concurrency: writers replace the file whole (temp file + rename); the last one wins,
 * which can only cost a re-validation.
 */
export class ValidationCache {
  readonly path: string;
  #entries: Record<string, Entry>;
  #dirty = false;

  private constructor(path: string, entries: Record<string, Entry>) {
    this.path = path;
    this.#entries = entries;
  }

  /**
   * @param path The cache file (created on save).
   * @returns The cache; empty when the file is missing or unreadable.
   */
  static async load(path: string): Promise<ValidationCache> {
    try {
      const data = JSON.parse(await Deno.readTextFile(path));
      const entries = data && typeof data.entries === "object" ? data.entries : {};
      return new ValidationCache(path, entries ?? {});
    } catch {
      return new ValidationCache(path, {});
    }
  }

  /**
   * What a DAG's verdict depends on, or undefined when it cannot be computed cheaply (an
   * unreadable or invalid file, an unknown workflow: full validation reports those).
   * @param dagPath Absolute DAG path.
   * @param registry The workflows the DAG resolves against.
   * @param version orch's version.
   * @returns The fingerprint.
   */
  async fingerprint(
    dagPath: string,
    registry: WorkflowRegistry,
    version: string,
  ): Promise<string | undefined> {
    try {
      const stat = await Deno.stat(dagPath);
      const { loadDag } = await import("../dag/load.ts"); // not needed when nothing changed
      const dag = await loadDag(dagPath);
      const sources = [...new Set(dag.tasks.map((t) => t.workflowRef))].sort().map((ref) => {
        const s = registry.resolve(ref);
        return s.kind === "file" ? s.url : `builtin:${s.name}`;
      });
      return JSON.stringify({
        version,
        mtime: stat.mtime?.getTime() ?? 0,
        size: stat.size,
        sources,
        sandbox: registry.sandbox ?? null,
      });
    } catch {
      return undefined;
    }
  }

  /**
   * @param dagPath Absolute DAG path.
   * @param fingerprint Its current fingerprint.
   * @returns The DAG's name when it passed validation with this fingerprint.
   */
  passed(dagPath: string, fingerprint: string): string | undefined {
    const e = this.#entries[dagPath];
    return e && e.fingerprint === fingerprint ? e.dagName : undefined;
  }

  /**
   * Records a DAG that passed full validation.
   * @param dagPath Absolute DAG path.
   * @param fingerprint Its fingerprint.
   * @param dagName Its name.
   */
  remember(dagPath: string, fingerprint: string, dagName: string): void {
    this.#entries[dagPath] = { fingerprint, dagName };
    this.#dirty = true;
  }

  /** Writes the cache if it changed; a failure to write is ignored (it is only a cache). */
  async save(): Promise<void> {
    if (!this.#dirty) return;
    const text = JSON.stringify({ v: 1, entries: this.#entries });
    if (await replaceFile(this.path, text)) this.#dirty = false;
  }
}
