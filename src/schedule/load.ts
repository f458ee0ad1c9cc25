import { resolve } from "node:path";
import { isMap, isSeq, type Node, type YAMLMap } from "yaml";
import type { z } from "zod";
import { describeYamlError, MAX_YAML_ALIASES, parseYaml, suggest } from "../lib/mod.ts";
import { type ScheduleIssue, ScheduleValidationError } from "./errors.ts";
import { localTimezone, parseDuration } from "./_time.ts";
import { scheduleFiles } from "./_files.ts";
import { type Schedule, SCHEDULE_KEYS, type ScheduleEntry, scheduleEntrySchema } from "./schema.ts";

/** Options of {@link loadSchedules}. */
export interface LoadSchedulesOptions {
  /** Directory that `dag` paths are relative to (default `Deno.cwd()`). */
  cwd?: string;
  /** Zone of entries without `timezone` (default the machine's local zone). */
  localTimezone?: string;
  /** Full DAG validation, called once per distinct DAG file; returns problem messages. */
  validateDag?: (absPath: string) => Promise<string[]>;
}

type Located = {
  file: string;
  pos: (offset: number) => { line: number; column: number };
  scheduleId?: string;
};

/**
 * Loads every `*.yaml` and `*.yml` file of `dir` (each a YAML list of schedules), in
 * file-name order, and validates all of them before failing: YAML syntax, unknown keys
 * (with "did you mean"), cron expressions, time zones, durations, duplicate ids across
 * files, missing DAG files and, through `validateDag`, the DAGs themselves.
 * @param dir The schedules directory.
 * @param options `cwd`, the local time zone and the DAG validator.
 * @returns The schedules, in file order.
 * @throws {ScheduleValidationError} Listing every problem with file, line and column.
 */
export async function loadSchedules(
  dir: string,
  options: LoadSchedulesOptions = {},
): Promise<Schedule[]> {
  const cwd = options.cwd ?? Deno.cwd();
  const issues: ScheduleIssue[] = [];
  const files = await listScheduleFiles(dir, issues);
  const schedules: Schedule[] = [];
  const dagNodes = new Map<string, { at: Located; node: Node }>();
  const seen = new Map<string, Schedule["source"]>();
  let zone: string | undefined; // the local zone, asked once
  for (const file of files) {
    const text = await readScheduleFile(file, issues);
    if (text === null) continue;
    for (const { raw, entry, node, at } of parseFile(file, text, issues)) {
      const source = { file, ...pos(at, node) };
      if (typeof raw.dag === "string" && raw.dag !== "") {
        const dagPath = resolve(cwd, raw.dag);
        if (!dagNodes.has(dagPath)) {
          dagNodes.set(dagPath, { at, node: node.get("dag", true) as Node });
        }
      }
      if (at.scheduleId === undefined) continue;
      const first = seen.get(at.scheduleId);
      if (first) {
        const where = `${first.file}:${first.line}:${first.column}`;
        const idNode = node.get("id", true) as Node;
        issues.push(issue(at, idNode, "id", `Duplicate id: first defined at ${where}`));
        continue;
      }
      seen.set(at.scheduleId, source);
      if (!entry) continue;
      zone ??= options.localTimezone ?? localTimezone();
      schedules.push(toSchedule(entry, resolve(cwd, entry.dag), source, zone));
    }
  }
  for (const [dagPath, { at, node }] of dagNodes) {
    for (const message of await checkDag(dagPath, options.validateDag)) {
      issues.push(issue(at, node, "dag", message));
    }
  }
  if (issues.length > 0) {
    const files = new Set(issues.map((i) => i.file));
    issues.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
    throw new ScheduleValidationError(files.size === 1 ? [...files][0] : dir, issues);
  }
  return schedules;
}

async function listScheduleFiles(dir: string, issues: ScheduleIssue[]): Promise<string[]> {
  try {
    return await scheduleFiles(dir);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? "no such directory" : String(err);
    issues.push({
      file: dir,
      line: 0,
      column: 0,
      path: "",
      message: `Cannot read directory: ${why}`,
    });
    return [];
  }
}

/** Largest schedule file accepted, in bytes (as for DAG files). */
const MAX_SCHEDULE_BYTES = 16 * 1024 * 1024;

async function readScheduleFile(file: string, issues: ScheduleIssue[]): Promise<string | null> {
  try {
    const { size } = await Deno.stat(file);
    if (size > MAX_SCHEDULE_BYTES) {
      throw new Error(`file is ${size} bytes, the limit is ${MAX_SCHEDULE_BYTES}`);
    }
    return await Deno.readTextFile(file);
  } catch (err) {
    const message = `Cannot read file: ${(err as Error).message}`;
    issues.push({ file, line: 0, column: 0, path: "", message });
    return null;
  }
}

function* parseFile(
  file: string,
  text: string,
  issues: ScheduleIssue[],
): Generator<{ raw: Record<string, unknown>; entry?: ScheduleEntry; node: YAMLMap; at: Located }> {
  const { doc, problems, pos } = parseYaml(text);
  const fileAt: Located = { file, pos };
  for (const p of problems) {
    issues.push({ file, line: p.line ?? 1, column: p.column ?? 1, path: "", message: p.message });
  }
  if (!doc || problems.length > 0 || doc.contents === null) return;
  if (!isSeq(doc.contents)) {
    issues.push(issue(fileAt, doc.contents, "", "Expected a list of schedules"));
    return;
  }
  for (const [index, item] of doc.contents.items.entries()) {
    if (!isMap(item)) {
      issues.push(issue(fileAt, item as Node, `[${index}]`, "Expected a mapping"));
      continue;
    }
    let raw: Record<string, unknown>;
    try {
      raw = item.toJS(doc, { maxAliasCount: MAX_YAML_ALIASES });
    } catch (err) {
      issues.push(issue(fileAt, item, `[${index}]`, describeYamlError(err)));
      continue;
    }
    const at = { ...fileAt, scheduleId: typeof raw.id === "string" ? raw.id : undefined };
    const parsed = scheduleEntrySchema.safeParse(raw);
    if (!parsed.success) issues.push(...parsed.error.issues.flatMap((i) => zodIssue(at, item, i)));
    yield { raw, entry: parsed.success ? parsed.data : undefined, node: item, at };
  }
}

function zodIssue(at: Located, item: YAMLMap, zi: z.core.$ZodIssue): ScheduleIssue[] {
  const path = zi.path.map(String);
  if (zi.code === "unrecognized_keys") {
    return zi.keys.map((key) => {
      const pair = item.items.find((p) => (p.key as { value?: unknown })?.value === key);
      const hint = suggest(key, SCHEDULE_KEYS)[0];
      const message = `Unknown key "${key}"${hint ? `, did you mean "${hint}"` : ""}`;
      return issue(at, (pair?.key ?? item) as Node, key, message);
    });
  }
  const node = item.getIn(path, true) as Node | undefined;
  if (!node && path.length === 1 && !item.has(path[0])) {
    return [issue(at, item, path[0], `Missing required key "${path[0]}"`)];
  }
  return [issue(at, node ?? item, path.join("."), zi.message)];
}

async function checkDag(
  dagPath: string,
  validateDag: LoadSchedulesOptions["validateDag"],
): Promise<string[]> {
  try {
    const info = await Deno.stat(dagPath);
    if (!info.isFile) return [`DAG path "${dagPath}" is not a file`];
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [`Cannot find DAG file "${dagPath}"`];
    // A path the OS refuses (too long, a NUL byte, no permission) is the file's problem.
    const why = JSON.stringify((err as Error).message).slice(1, -1); // escapes control bytes
    return [`Cannot read DAG file ${JSON.stringify(dagPath)}: ${why}`];
  }
  if (!validateDag) return [];
  return (await validateDag(dagPath)).map((m) => `Invalid DAG "${dagPath}": ${m}`);
}

function toSchedule(
  entry: ScheduleEntry,
  dagPath: string,
  source: Schedule["source"],
  zone: string,
): Schedule {
  return {
    id: entry.id,
    cron: entry.cron,
    dag: entry.dag,
    dagPath,
    tenant: entry.tenant,
    enabled: entry.enabled,
    timezone: entry.timezone ?? zone,
    params: entry.params,
    overlap: entry.overlap,
    catchupWindowMs: entry.catchup_window ? parseDuration(entry.catchup_window) : null,
    source,
  };
}

function pos(at: Located, node: Node | null | undefined): { line: number; column: number } {
  return at.pos(node?.range?.[0] ?? 0);
}

function issue(at: Located, node: Node | null | undefined, path: string, message: string) {
  const { line, column } = pos(at, node);
  return { file: at.file, line, column, scheduleId: at.scheduleId, path, message };
}
