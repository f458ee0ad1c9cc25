import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { suggest } from "../lib/suggest.ts";
import { NAME_PATTERN } from "../dag/_names.ts";
import { UnknownWorkflowError } from "./errors.ts";
import type { SandboxProfile } from "./permissions.ts";

/** Where a workflow's code comes from. Structured-cloneable: it crosses into workers. */
export type WorkflowSource =
  & (
    | {
      readonly kind: "file";
      readonly name: string;
      /** Absolute path of the plugin file. */
      readonly path: string;
      /** `file:` URL with the file's mtime as query, so an edited plugin is re-imported. */
      readonly url: string;
    }
    | { readonly kind: "builtin"; readonly name: string }
  )
  & {
    /** The worker sandbox its attempts run in (set by `prepareRun`); absent: inherit. */
    readonly sandbox?: SandboxProfile;
    /** Set when the workflow asked for a worker process (set by `prepareRun`). */
    readonly isolation?: { readonly process: { readonly memoryMb?: number } };
  };

/** How `prepareRun` builds sandboxes: paths resolve against `cwd`; `baseRead` is always readable. */
export interface SandboxOptions {
  readonly cwd: string;
  readonly baseRead: readonly string[];
}

const PLUGIN_FILE = /^(.+)\.(ts|js|mts|mjs)$/;
const EXT_RANK: Record<string, number> = { ts: 0, mts: 1, js: 2, mjs: 3 };

/**
 * The workflows a run may use: plugin files in the workflows directory, then the
 * built-ins. A file wins over a built-in of the same name. Built explicitly and
 * passed in; nothing registers itself by import.
 */
export class WorkflowRegistry {
  readonly #sources: ReadonlyMap<string, WorkflowSource>;
  readonly #identities: ReadonlyMap<string, string>;
  /** When set, every workflow runs in a worker limited to its declared permissions. */
  readonly sandbox?: SandboxOptions;

  /**
   * @param sources Sources by workflow name.
   * @param sandbox Sandbox settings; absent means workers inherit the process's permissions.
   * @param identities Identity of each plugin file as scanned (see {@link fileIdentity}).
   */
  constructor(
    sources: ReadonlyMap<string, WorkflowSource>,
    sandbox?: SandboxOptions,
    identities: ReadonlyMap<string, string> = new Map(),
  ) {
    this.#sources = sources;
    this.sandbox = sandbox;
    this.#identities = identities;
  }

  /**
   * Scans a workflows directory (not recursive) and adds the built-ins.
   * A missing directory is not an error: only the built-ins are then available.
   * @param dir Absolute path of the workflows directory.
   * @param builtins Names of the built-in workflows.
   * @param options `sandbox`: run plugins with least privilege (see {@link SandboxOptions}).
   * @returns The registry.
   */
  static async scan(
    dir: string,
    builtins: Iterable<string>,
    options: { sandbox?: SandboxOptions } = {},
  ): Promise<WorkflowRegistry> {
    const found = new Map<string, { source: WorkflowSource; rank: number; identity: string }>();
    let entries: Deno.DirEntry[] = [];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    await Promise.all(entries.map(async (e) => {
      const m = PLUGIN_FILE.exec(e.name);
      if (!m || !(e.isFile || e.isSymlink) || !NAME_PATTERN.test(m[1])) return;
      const path = join(dir, e.name);
      const stat = await Deno.stat(path).catch(() => null);
      if (!stat?.isFile) return;
      const rank = EXT_RANK[m[2]];
      const prev = found.get(m[1]);
      if (prev && prev.rank <= rank) return;
      const version = stat.mtime?.getTime() ?? 0;
      const url = `${pathToFileURL(path).href}?v=${version}`;
      const identity = JSON.stringify([path, version, stat.size, stat.ino ?? null]);
      found.set(m[1], { source: { kind: "file", name: m[1], path, url }, rank, identity });
    }));
    const sources = new Map<string, WorkflowSource>();
    for (const name of builtins) sources.set(name, { kind: "builtin", name });
    for (const [name, f] of found) sources.set(name, f.source);
    const sorted = new Map([...sources].sort((a, b) => compareNames(a[0], b[0])));
    const identities = new Map([...found].map(([name, f]) => [name, f.identity]));
    return new WorkflowRegistry(sorted, options.sandbox, identities);
  }

  /** @returns Every workflow name, sorted. */
  names(): string[] {
    return [...this.#sources.keys()];
  }

  /** @returns Every source, sorted by name. */
  sources(): WorkflowSource[] {
    return [...this.#sources.values()];
  }

  /**
   * What a plugin file was when the registry scanned it: its path, mtime, size and inode,
   * so that a cache of what inspecting it found holds only while the file is unchanged.
   * @param source A source of this registry.
   * @returns The identity, or `undefined` for a built-in or a source not scanned here.
   */
  fileIdentity(source: WorkflowSource): string | undefined {
    if (source.kind !== "file") return undefined;
    const scanned = this.#sources.get(source.name);
    if (scanned?.kind !== "file" || scanned.url !== source.url) return undefined;
    return this.#identities.get(source.name);
  }

  /**
   * @param ref A workflow_ref.
   * @returns Its source.
   * @throws {UnknownWorkflowError} With the available names and a did-you-mean.
   */
  resolve(ref: string): WorkflowSource {
    const source = this.#sources.get(ref);
    if (!source) throw new UnknownWorkflowError(ref, this.names(), suggest(ref, this.names()));
    return source;
  }
}

/**
 * Orders workflow names as `localeCompare` does in the root locale for the characters
 * names may use (`A-Z a-z 0-9 _ -`): `_` before `-` before digits before letters, letters
 * case-insensitively, and at equal letters lowercase first. Without `Intl`, whose collator
 * takes about 10 ms to set up on a process's first use. Pure.
 * @param a A name.
 * @param b Another name.
 * @returns Negative when `a` sorts first, positive when `b` does, 0 when equal.
 */
export function compareNames(a: string, b: string): number {
  const primary = compareCodeUnits(primaryKey(a), primaryKey(b));
  return primary || compareCodeUnits(swapCase(a), swapCase(b));
}

function primaryKey(name: string): string {
  return name.toLowerCase().replaceAll("_", "\x01").replaceAll("-", "\x02");
}

function swapCase(name: string): string {
  return name.replace(
    /[A-Za-z]/g,
    (c) => c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase(),
  );
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
