/**
 * The next-due index: lets `scheduler --once`, which cron calls every minute, finish a
 * minute in which nothing can be due without loading a schedule, a DAG or a workflow,
 * and without importing the YAML parser, zod or croner (this module imports none).
 *
 * A full `--once` tick that found nothing to do (nothing enqueued, skipped or recovered,
 * and no run unfinished) records `<STATE_STORE_PATH>.next_due.json`: a snapshot of
 * everything the tick depended on and the first fire time of any schedule after the
 * tick's minute. A later `--once` is quiet, and may stop at once, while:
 *
 * - the clock is in a minute at or after the recorded tick and before that fire time;
 * - the schedule files (names and contents), the DAG files (contents), the workflows
 *   directory (names, sizes, mtimes), orch's version, the runtime's version (its time
 *   zone data), the local time zone, the working directory and the sandbox setting are
 *   as recorded;
 * - the state file has the same size, mtime and inode: no run was enqueued, started or
 *   finished since, so crash recovery has nothing to look at.
 *
 * Why skipping is exact: the full tick moved every schedule's watermark to its minute,
 * and no schedule (enabled or disabled) fires between that minute and the recorded fire
 * time, so a full tick now would find no due, missed or skipped minute either; the only
 * difference is that the watermarks stay at the recorded minute, which is equivalent
 * for every later tick for the same reason. Clock jumps and DST are covered because the
 * fire time is an absolute instant computed by croner in each schedule's zone. What a
 * quiet minute does not do: remove stale run lock files that belong to no recorded run
 * (the next full tick does).
 *
 * Due minutes: every `--once` tick (quiet or not) also records its schedules as loaded
 * and validated, each with its first fire time after the tick's minute. While the
 * schedule files, the DAG files, the workflows directory and the key are unchanged (the
 * state file may have changed), a later `--once` takes its schedules from the index
 * (no YAML, zod, croner or DAG validation for them) and its tick plans only the
 * schedules that may have something to do; the others only get their watermark moved
 * (see `known_fires.ts`). Exactly-once is decided under the state store's lock as
 * before, against the watermarks and recorded minutes read there.
 *
 * The snapshot of the inputs is taken before the full tick reads them, so a change
 * during the tick makes the index stale (a full tick next minute), never wrong. Writers
 * replace the file whole (temp file + rename); it is only a cache: a missing, corrupt or
 * stale index just means a full tick.
 * @module
 */
import { floorMinute } from "./_time.ts";
import { replaceFile } from "../lib/replace_file.ts";
import { scheduleFiles } from "./_files.ts";
import type { KnownFires } from "./known_fires.ts";
import type { Schedule } from "./schema.ts";
import type { Dag } from "../dag/types.ts";

/** Where a tick's outcome comes from, besides the clock. */
export interface NextDueSetup {
  /** The schedules directory (absolute). */
  dir: string;
  /** The workflows directory (absolute). */
  workflowsDir: string;
  /** The JSONL state file. */
  statePath: string;
  /**
   * Everything else the outcome depends on, as one string: orch's version, the runtime,
   * the local time zone, the working directory, the workflows directory and the sandbox
   * setting (see {@link setupKey}).
   */
  key: string;
}

/** The inputs of a tick as they were before it read them. */
export interface SetupSnapshot {
  key: string;
  /** Digest of the schedule files' names and contents. */
  schedules: string;
  /** Names, sizes and mtimes of the workflows directory's entries. */
  workflows: string;
  /** Size, mtime and inode of the state file. */
  state: string;
}

/** A schedule as the index keeps it: as loaded, with its DAG's name and next fire time. */
type StoredSchedule = Schedule & { dag_name: string; next: string | null };

/** The persisted index (`<state file>.next_due.json`). */
interface IndexFile extends SetupSnapshot {
  v: 2;
  /** The DAG files of the schedules (absolute). */
  dags: string[];
  /** Digest of their contents. */
  dags_digest: string;
  /** The tick's minute (ISO 8601). */
  tick: string;
  /** The first fire time of any schedule after `tick`, or `null` for never. */
  next_due: string | null;
  /**
   * The schedules as loaded and validated by the tick, or `null` when they cannot be
   * kept as JSON. With them, a later tick needs no schedule or DAG file loaded.
   */
  entries: StoredSchedule[] | null;
  /**
   * The DAGs parsed from the very bytes digested in `dags_digest` (small, plain-JSON
   * ones only), by path; a run of one of them needs no YAML parser.
   */
  parsed?: Record<string, Dag>;
}

/** A schedule of {@link recordTick}, its DAG's name and its first fire time after the tick. */
export interface RecordedSchedule {
  schedule: Schedule;
  dagName: string;
  next: Date | null;
}

/** What the index says about a tick at a given instant (see {@link readNextDue}). */
export interface NextDue {
  /** Nothing can be due: the minute may end at once. */
  quiet: boolean;
  /** The inputs as they are now (taken before anything else reads them). */
  snapshot: SetupSnapshot;
  /** The recorded schedules, still valid, and their known fire times; else `null`. */
  known: KnownSchedules | null;
}

/** Schedules and fire times recorded by a previous tick whose inputs are unchanged. */
export interface KnownSchedules {
  schedules: Schedule[];
  /** Schedule id to its DAG's name. */
  dagNames: Map<string, string>;
  fires: KnownFires;
  /** DAGs as parsed when recorded, by path (see {@link parsedDag}). */
  dags: ReadonlyMap<string, Dag>;
  /** The digest of the DAG files they were parsed from. */
  dagsDigest: string;
}

/** Largest DAG file kept parsed in the index, in bytes. */
const MAX_PARSED_BYTES = 256 * 1024;

/** The `state` of a tick that was not quiet: never matches a file's identity. */
const NOT_QUIET = "not quiet";

/**
 * @param statePath The JSONL state file.
 * @returns `<statePath>.next_due.json`, beside the watermarks.
 */
export function nextDueIndexPath(statePath: string): string {
  return `${statePath}.next_due.json`;
}

/**
 * The {@link NextDueSetup.key} of a process.
 * @param parts orch's version, the working and workflows directories, the sandbox setting.
 * @returns The key; it also names the runtime (its time zone data) and where the local
 *   time zone comes from (see {@link localZoneSource}).
 */
export function setupKey(
  parts: { version: string; cwd: string; workflowsDir: string; sandbox: boolean },
): string {
  return JSON.stringify({
    orch: parts.version,
    deno: Deno.version.deno,
    tz: localZoneSource(),
    cwd: parts.cwd,
    workflows: parts.workflowsDir,
    sandbox: parts.sandbox,
  });
}

/**
 * What decides the machine's local time zone (of schedules without `timezone`), without
 * asking `Intl`, whose first use costs about 15 ms of time zone data loading: the `TZ`
 * variable, `/etc/localtime` (its link target and file identity) and `/etc/timezone`.
 * Any change to them is a change of key: conservative, never wrong.
 * @returns A description of those sources.
 */
function localZoneSource(): string {
  const tz = (() => {
    try {
      return Deno.env.get("TZ") ?? null;
    } catch {
      return "unreadable";
    }
  })();
  const link = (() => {
    try {
      return Deno.readLinkSync("/etc/localtime");
    } catch {
      return null;
    }
  })();
  return JSON.stringify([tz, link, identitySync("/etc/localtime"), identitySync("/etc/timezone")]);
}

/**
 * Snapshots the inputs of a tick; take it before the tick reads them.
 * @param setup Directories, state file and key.
 * @returns The snapshot.
 * @throws {Deno.errors.NotFound} When the schedules directory is missing.
 */
export async function snapshotSetup(setup: NextDueSetup): Promise<SetupSnapshot> {
  const [schedules, workflows, state] = await Promise.all([
    scheduleFiles(setup.dir).then(digestFiles),
    describeDir(setup.workflowsDir),
    identity(setup.statePath),
  ]);
  return { key: setup.key, schedules, workflows, state };
}

/**
 * Records a quiet full tick (nothing enqueued, skipped or recovered, nothing unfinished).
 * A failure to write is ignored: it is only a cache.
 * @param setup Directories, state file and key.
 * @param snapshot Taken before the tick read its inputs.
 * @param tick The tick's instant, the DAG files of its schedules and the first fire time
 *   of any schedule after the tick's minute (`null` for never).
 */
export async function recordQuietTick(
  setup: NextDueSetup,
  snapshot: SetupSnapshot,
  tick: { at: Date; dagPaths: readonly string[]; nextDue: Date | null },
): Promise<void> {
  await writeIndex(setup, snapshot, tick, null);
}

/**
 * Records a tick of `scheduler --once` after its runs ended: its schedules (validated)
 * with their next fire times, so the next minutes need no schedule or DAG loaded, and,
 * when the tick was quiet (nothing enqueued, skipped or recovered, nothing unfinished),
 * the state file's identity from `snapshot`, so that minutes until the first fire time
 * may end at once (see {@link isQuietMinute}). Ignores a failure to write.
 * @param setup Directories, state file and key.
 * @param snapshot Taken before the tick read its inputs.
 * @param tick The tick's instant, whether it was quiet, and its schedules.
 */
export async function recordTick(
  setup: NextDueSetup,
  snapshot: SetupSnapshot,
  tick: {
    at: Date;
    quiet: boolean;
    schedules: readonly RecordedSchedule[];
    /** Parses a DAG file's text (`parseDag`), to keep small DAGs parsed in the index. */
    parseDag?: (source: string, file: string) => Dag;
    /** Without `parseDag`: the DAGs of the previous index, kept if their files are unchanged. */
    keep?: Pick<KnownSchedules, "dags" | "dagsDigest">;
  },
): Promise<void> {
  let nextDue: Date | null = null;
  for (const { next } of tick.schedules) {
    if (next && (!nextDue || next.getTime() < nextDue.getTime())) nextDue = next;
  }
  const stored = tick.schedules.every((r) => isJson(r.schedule.params))
    ? tick.schedules.map((r): StoredSchedule => ({
      ...r.schedule,
      dag_name: r.dagName,
      next: r.next?.toISOString() ?? null,
    }))
    : null;
  await writeIndex(
    setup,
    tick.quiet ? snapshot : { ...snapshot, state: NOT_QUIET },
    { at: tick.at, dagPaths: tick.schedules.map((r) => r.schedule.dagPath), nextDue },
    stored,
    tick,
  );
}

async function writeIndex(
  setup: NextDueSetup,
  snapshot: SetupSnapshot,
  tick: { at: Date; dagPaths: readonly string[]; nextDue: Date | null },
  schedules: StoredSchedule[] | null,
  dagsFrom: Pick<Parameters<typeof recordTick>[2], "parseDag" | "keep"> = {},
): Promise<void> {
  const { parseDag, keep } = dagsFrom;
  const dags = [...new Set(tick.dagPaths)].sort();
  const { digest, bodies } = await readAndDigest(dags);
  const index: IndexFile = {
    v: 2,
    ...snapshot,
    dags,
    dags_digest: digest,
    tick: floorMinute(tick.at).toISOString(),
    next_due: tick.nextDue?.toISOString() ?? null,
    entries: schedules,
    parsed: !schedules
      ? undefined
      : parseDag
      ? await parseAll(dags, bodies, parseDag)
      : keep?.dagsDigest === digest
      ? Object.fromEntries(keep.dags)
      : undefined,
  };
  await replaceFile(nextDueIndexPath(setup.statePath), JSON.stringify(index) + "\n");
}

/**
 * Whether a tick at `now` would find nothing to do, judged from the index alone.
 * @param setup Directories, state file and key.
 * @param now The tick's instant.
 * @returns True when the recorded quiet tick still holds at `now`; false when there is
 *   no index, or anything it depends on changed, or a schedule may be due.
 */
export async function isQuietMinute(setup: NextDueSetup, now: Date): Promise<boolean> {
  return (await readNextDue(setup, now))?.quiet ?? false;
}

/**
 * Reads the index for a tick at `now`. Its schedules are still valid while the clock is
 * at or after the recorded minute and the schedule files, the DAG files, the workflows
 * directory and the key are unchanged (the state file may have changed: a tick decides
 * from the watermarks it reads under the lock, see `known_fires.ts`); the minute is
 * quiet when, in addition, the recorded tick was quiet, the state file is unchanged and
 * the clock is before the first recorded fire time.
 * @param setup Directories, state file and key.
 * @param now The tick's instant.
 * @returns What holds, or `null` without a usable index (then take a snapshot and load).
 */
export async function readNextDue(setup: NextDueSetup, now: Date): Promise<NextDue | null> {
  let index: IndexFile;
  try {
    index = JSON.parse(await Deno.readTextFile(nextDueIndexPath(setup.statePath)));
  } catch {
    return null;
  }
  if (index?.v !== 2 || index.key !== setup.key || !Array.isArray(index.dags)) return null;
  const minute = floorMinute(now).getTime();
  const tick = Date.parse(index.tick);
  if (!(minute >= tick)) return null;
  let snapshot: SetupSnapshot;
  try {
    const [current, dags] = await Promise.all([snapshotSetup(setup), digestFiles(index.dags)]);
    if (
      current.schedules !== index.schedules || current.workflows !== index.workflows ||
      dags !== index.dags_digest
    ) return null;
    snapshot = current;
  } catch {
    return null;
  }
  const due = index.next_due === null ? Infinity : Date.parse(index.next_due);
  const quiet = snapshot.state === index.state && minute < due;
  return { quiet, snapshot, known: knownSchedules(index) };
}

function knownSchedules(index: IndexFile): KnownSchedules | null {
  if (!Array.isArray(index.entries)) return null;
  const schedules: Schedule[] = [];
  const dagNames = new Map<string, string>();
  const next = new Map<string, Date | null>();
  for (const { dag_name, next: at, ...schedule } of index.entries) {
    schedules.push(schedule);
    dagNames.set(schedule.id, dag_name);
    next.set(schedule.id, at === null ? null : new Date(at));
  }
  const dags = new Map(Object.entries(index.parsed ?? {}));
  const fires = { at: new Date(index.tick), next };
  return { schedules, dagNames, fires, dags, dagsDigest: index.dags_digest };
}

/**
 * A DAG of the index, if it still is what `loadDag(path)` would give: its file resolves
 * to the same real path (its contents are covered by the index's digest).
 * @param known The index's schedules.
 * @param path The DAG file (absolute).
 * @returns The DAG, or `undefined` (then load it).
 */
export async function parsedDag(known: KnownSchedules, path: string): Promise<Dag | undefined> {
  const dag = known.dags.get(path);
  if (!dag) return undefined;
  const real = await Deno.realPath(path).catch(() => null);
  return real === dag.file ? dag : undefined;
}

/** Parses the small DAG files from the bytes that were digested; skips any problem. */
async function parseAll(
  paths: readonly string[],
  bodies: readonly (Uint8Array | null)[],
  parseDag: (source: string, file: string) => Dag,
): Promise<Record<string, Dag>> {
  const out: Record<string, Dag> = {};
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (const [i, path] of paths.entries()) {
    const body = bodies[i];
    if (!body || body.length > MAX_PARSED_BYTES) continue;
    try {
      const dag = { ...parseDag(decoder.decode(body), path), file: await Deno.realPath(path) };
      if (dag.tasks.every((t) => isJson(t.params))) out[path] = dag;
    } catch {
      // Not kept: a run of it loads the file.
    }
  }
  return out;
}

/** Whether a value is plain JSON (survives `JSON.stringify` and `JSON.parse` unchanged). */
function isJson(value: unknown): boolean {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJson);
  if (typeof value !== "object" || Object.getPrototypeOf(value) !== Object.prototype) return false;
  return Object.values(value as Record<string, unknown>).every(isJson);
}

/** SHA-256 of the files' paths and contents (a missing file counts as such). */
async function digestFiles(paths: readonly string[]): Promise<string> {
  return (await readAndDigest(paths)).digest;
}

/** {@link digestFiles}, also giving back the bytes it read (`null`: missing). */
async function readAndDigest(
  paths: readonly string[],
): Promise<{ digest: string; bodies: (Uint8Array | null)[] }> {
  const encoder = new TextEncoder();
  const bodies = await Promise.all(paths.map((p) => Deno.readFile(p).catch(() => null)));
  const parts = paths.map((p, i) => {
    const body = bodies[i];
    const head = encoder.encode(`${JSON.stringify(p)} ${body ? body.length : "missing"}\n`);
    return body ? [head, body] : [head];
  });
  const chunks = parts.flat();
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return { digest: Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join(""), bodies };
}

/** Names, sizes and mtimes of a directory's entries (following symlinks), sorted. */
async function describeDir(dir: string): Promise<string> {
  let names: string[];
  try {
    names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  } catch {
    return "unreadable";
  }
  const lines = await Promise.all(names.map(async (n) => `${n} ${await identity(`${dir}/${n}`)}`));
  return lines.join("\n");
}

/** Size, mtime and inode of a file, or `none`. */
async function identity(path: string): Promise<string> {
  try {
    return describeStat(await Deno.stat(path));
  } catch {
    return "none";
  }
}

function identitySync(path: string): string {
  try {
    return describeStat(Deno.statSync(path));
  } catch {
    return "none";
  }
}

function describeStat(s: Deno.FileInfo): string {
  return `${s.size} ${s.mtime?.getTime() ?? 0} ${s.ino ?? 0}`;
}
