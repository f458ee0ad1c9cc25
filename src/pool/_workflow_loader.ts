import type { z } from "zod";
import { toPlainError } from "../lib/errors.ts";
import type { WorkflowSource } from "../workflows/registry.ts";
import type { JsonObject, TaskContext } from "../workflows/types.ts";
import { parsePermissions, type WorkflowPermissions } from "../workflows/permissions.ts";
import type { WorkflowInfo } from "./protocol.ts";

/** A workflow module after import and shape checks. */
export interface LoadedWorkflow {
  name: string;
  description?: string;
  schema?: z.ZodType;
  permissions?: WorkflowPermissions;
  isolation?: { process: { memoryMb?: number } };
  run(params: JsonObject, ctx: TaskContext): unknown;
}

type Loaders = Readonly<Record<string, () => Promise<{ default: unknown }>>>;

/**
 * Imports workflow modules and caches them by source. Runs inside a pool worker
 * (or on the main thread for the InlinePool).
 */
export class WorkflowLoader {
  readonly #builtins: Loaders;
  readonly #ready = new Map<string, LoadedWorkflow>();
  readonly #loading = new Map<string, Promise<LoadedWorkflow>>();

  /** @param builtins Loaders of the built-in workflows. */
  constructor(builtins: Loaders) {
    this.#builtins = builtins;
  }

  /** @returns The loaded workflow if it is already cached (the synchronous fast path). */
  cached(source: WorkflowSource): LoadedWorkflow | undefined {
    return this.#ready.get(key(source));
  }

  /**
   * @param source Where the workflow lives.
   * @returns The loaded workflow.
   * @throws {Error} Naming the file when the import fails or the module has no `run`.
   */
  load(source: WorkflowSource): Promise<LoadedWorkflow> {
    const k = key(source);
    let p = this.#loading.get(k);
    if (!p) {
      p = this.#import(source).then((wf) => {
        this.#ready.set(k, wf);
        return wf;
      });
      p.catch(() => this.#loading.delete(k));
      this.#loading.set(k, p);
    }
    return p;
  }

  /**
   * Loads a workflow and validates param sets against its schema.
   * @param source Where the workflow lives.
   * @param paramSets Params to check.
   * @returns Its description, JSON Schema and the problems of each param set.
   */
  async inspect(source: WorkflowSource, paramSets: JsonObject[]): Promise<WorkflowInfo> {
    try {
      const wf = await this.load(source);
      const issues = paramSets.map((p) => paramIssues(wf.schema, p));
      let paramsSchema: unknown;
      try {
        paramsSchema = wf.schema
          ? (await zod()).toJSONSchema(wf.schema, { unrepresentable: "any" })
          : undefined;
      } catch {
        paramsSchema = undefined;
      }
      return {
        name: source.name,
        description: wf.description,
        paramsSchema,
        permissions: wf.permissions,
        isolation: wf.isolation,
        issues,
      };
    } catch (err) {
      return { name: source.name, issues: [], error: toPlainError(err) };
    }
  }

  async #import(source: WorkflowSource): Promise<LoadedWorkflow> {
    const where = source.kind === "file" ? source.path : "built-in";
    let mod: { default?: unknown };
    try {
      if (source.kind === "file") mod = await import(source.url);
      else {
        const loader = this.#builtins[source.name];
        if (!loader) throw new Error(`no built-in workflow named "${source.name}"`);
        mod = await loader();
      }
    } catch (err) {
      throw loadError(source.name, where, `import failed: ${toPlainError(err).message}`);
    }
    const def = mod.default as Record<string, unknown> | undefined;
    if (!def || typeof def !== "object" || typeof def.run !== "function") {
      throw loadError(
        source.name,
        where,
        "the default export must be an object with a run() function",
      );
    }
    let schema: z.ZodType | undefined;
    if (typeof def.params === "function") {
      schema = (def.params as (zod: typeof z) => z.ZodType)(await zod());
    } else if (def.params !== undefined) schema = def.params as z.ZodType;
    if (schema !== undefined && typeof (schema as z.ZodType).safeParse !== "function") {
      throw loadError(source.name, where, "params must be a zod schema or (z) => schema");
    }
    const perms = parsePermissions(def.permissions);
    if (!perms.ok) throw loadError(source.name, where, perms.issues.join("; "));
    if (def.isolation !== undefined && def.isolation !== "thread" && def.isolation !== "process") {
      throw loadError(source.name, where, 'isolation must be "thread" or "process"');
    }
    const mem = def.memoryMb;
    if (mem !== undefined && (typeof mem !== "number" || !Number.isInteger(mem) || mem < 16)) {
      throw loadError(source.name, where, "memoryMb must be a whole number >= 16");
    }
    const run = def.run as LoadedWorkflow["run"];
    return {
      name: source.name,
      description: typeof def.description === "string" ? def.description : undefined,
      schema,
      permissions: perms.permissions,
      isolation: def.isolation === "process" || mem !== undefined
        ? { process: { memoryMb: mem as number | undefined } }
        : undefined,
      run: (params, ctx) => run.call(def, params, ctx),
    };
  }
}

/**
 * zod, imported on first need: only workflows with a params schema need it, and a worker
 * that runs the others starts without it (about 15 ms less per worker).
 */
function zod(): Promise<typeof z> {
  return import("zod").then((m) => m.z);
}

function key(source: WorkflowSource): string {
  return source.kind === "file" ? source.url : `builtin:${source.name}`;
}

function loadError(name: string, where: string, why: string): Error {
  const err = new Error(`Cannot load workflow "${name}" from "${where}": ${why}`);
  err.name = "WorkflowLoadError";
  return err;
}

function paramIssues(schema: z.ZodType | undefined, params: JsonObject): string[] {
  if (!schema) return [];
  const r = schema.safeParse(params);
  if (r.success) return [];
  return r.error.issues.map((i) => {
    const path = i.path.length ? `params.${i.path.join(".")}: ` : "params: ";
    return path + i.message;
  });
}
