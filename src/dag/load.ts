import { basename } from "node:path";
import type { z } from "zod";
import { suggest } from "../lib/suggest.ts";
import { type DagIssue, DagValidationError } from "./errors.ts";
import { parseSubset } from "./_subset_yaml.ts";
import { parseLocated } from "./_yaml.ts";
import { DAG_KEYS, type DagInput, DagSchema, TASK_KEYS } from "./schema.ts";
import type { Dag, TaskSpec } from "./types.ts";

/** Largest DAG file accepted, in bytes. */
export const MAX_DAG_BYTES = 16 * 1024 * 1024;

/**
 * Parses and validates DAG YAML text. Collects every problem before failing.
 * Does not check that workflows exist or that the graph is acyclic (see `buildPlan`).
 * @param source The YAML text.
 * @param file The file name to report and to derive `dagId` from.
 * @returns The validated DAG.
 * @throws {DagValidationError} Listing every problem with line and column.
 */
export function parseDag(source: string, file = "<dag>"): Dag {
  // Fast path: a valid DAG in the plain subset of YAML that orch's files use is parsed
  // without npm:yaml's document tree (a 10k-task DAG: about 240 MB less at peak). Any
  // problem, or anything outside the subset, takes the located path below, so every
  // message is the one it always was.
  const plain = parseSubset(source);
  if (plain !== undefined) {
    const parsed = DagSchema.safeParse(plain);
    if (parsed.success && crossTaskIssues(parsed.data, locateNothing).length === 0) {
      return toDag(parsed.data, file);
    }
  }
  const doc = parseLocated(source);
  const issues: DagIssue[] = doc.problems.map((p) => ({ path: "", ...p }));
  if (issues.length === 0 && (doc.value === null || doc.value === undefined)) {
    issues.push({ path: "", message: "file is empty: expected a map with name and tasks" });
  }
  if (issues.length > 0) throw new DagValidationError(file, issues);

  const raw = doc.value;
  const parsed = DagSchema.safeParse(raw);
  if (!parsed.success) {
    for (const zi of parsed.error.issues) issues.push(...fromZod(zi, raw, doc.locate));
  } else {
    issues.push(...crossTaskIssues(parsed.data, doc.locate));
  }
  if (issues.length > 0) throw new DagValidationError(file, sortIssues(issues));
  return toDag(parsed.data!, file);
}

/**
 * Reads and validates a DAG file.
 * @param path Path to the YAML file.
 * @returns The validated DAG with `file` set to the absolute path.
 * @throws {DagValidationError} When the file cannot be read or is invalid.
 */
export async function loadDag(path: string): Promise<Dag> {
  let source: string;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new Error("not a file");
    if (info.size > MAX_DAG_BYTES) {
      throw new Error(`file is ${info.size} bytes, the limit is ${MAX_DAG_BYTES}`);
    }
    source = await Deno.readTextFile(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? "file not found" : (err as Error).message;
    throw new DagValidationError(path, [{ path: "", message: `cannot read file: ${why}` }]);
  }
  const dag = parseDag(source, path);
  return { ...dag, file: await Deno.realPath(path) };
}

type Locate = ReturnType<typeof parseLocated>["locate"];

function locateNothing(): undefined {
  return undefined;
}

function taskIdAt(raw: unknown, path: readonly PropertyKey[]): string | undefined {
  if (path[0] !== "tasks" || typeof path[1] !== "number") return undefined;
  const task = (raw as { tasks?: unknown[] })?.tasks?.[path[1]];
  const id = (task as { id?: unknown } | undefined)?.id;
  return typeof id === "string" && id ? id : undefined;
}

function pathText(path: readonly PropertyKey[]): string {
  return path.map((p, i) => typeof p === "number" ? `[${p}]` : (i ? "." : "") + String(p)).join(
    "",
  );
}

function fromZod(zi: z.core.$ZodIssue, raw: unknown, locate: Locate): DagIssue[] {
  const path = zi.path;
  const taskId = taskIdAt(raw, path);
  if (zi.code === "unrecognized_keys") {
    const known: readonly string[] = path.length === 0 ? DAG_KEYS : TASK_KEYS;
    return zi.keys.map((key) => {
      const hint = suggest(key, known);
      const dym = hint.length ? `; did you mean "${hint[0]}"?` : "";
      return {
        path: pathText(path),
        message: `unknown key "${key}"${dym}`,
        taskId,
        ...locate(path, key),
      };
    });
  }
  const message = zi.message.startsWith("Invalid input") || zi.message.startsWith("Too ")
    ? `${pathText(path) || "document"}: ${zi.message}`
    : zi.message;
  // A missing key has no node: point at the map that should hold it.
  const at = locate(path) ?? locate(path.slice(0, -1));
  return [{ path: pathText(path), message, taskId, ...at }];
}

/** Unknown dependencies that get a did-you-mean; each hint scans every task id. */
const MAX_HINTS = 50;

function crossTaskIssues(dag: DagInput, locate: Locate): DagIssue[] {
  const issues: DagIssue[] = [];
  let hints = MAX_HINTS;
  const ids = new Set<string>();
  dag.tasks.forEach((t, i) => {
    if (ids.has(t.id)) {
      issues.push({
        path: `tasks[${i}].id`,
        message: `duplicate task id "${t.id}"`,
        taskId: t.id,
        ...locate(["tasks", i, "id"]),
      });
    }
    ids.add(t.id);
  });
  dag.tasks.forEach((t, i) => {
    const seen = new Set<string>();
    t.depends_on.forEach((dep, j) => {
      // Locating is costly on large DAGs: only done for a dependency that has a problem.
      const issue = (message: string) =>
        issues.push({
          path: `tasks[${i}].depends_on[${j}]`,
          taskId: t.id,
          ...locate(["tasks", i, "depends_on", j]),
          message,
        });
      if (dep === t.id) {
        issue(`depends on itself`);
      } else if (!ids.has(dep)) {
        const hint = hints-- > 0 ? suggest(dep, ids) : [];
        const dym = hint.length ? `; did you mean "${hint[0]}"?` : "";
        issue(`depends on unknown task "${dep}"${dym}`);
      } else if (seen.has(dep)) {
        issue(`lists dependency "${dep}" twice`);
      }
      seen.add(dep);
    });
  });
  return issues;
}

function sortIssues(issues: DagIssue[]): DagIssue[] {
  return issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

function toDag(input: DagInput, file: string): Dag {
  const tasks: TaskSpec[] = input.tasks.map((t) => ({
    id: t.id,
    workflowRef: t.workflow_ref,
    params: t.params,
    retries: t.retries,
    retryDelayS: t.retry_delay_s,
    timeoutS: t.timeout_s,
    dependsOn: t.depends_on,
  }));
  const stem = basename(file).replace(/\.ya?ml$/i, "");
  return { name: input.name, dagId: stem || input.name, tenantId: input.tenant_id, tasks };
}
