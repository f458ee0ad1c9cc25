import { Cron } from "croner";
import { z } from "zod";
import { CRON_MODE, isTimezone, parseDuration } from "./_time.ts";

export { CRON_MODE };

/**
 * @param expr A cron expression.
 * @returns Croner's complaint, or `null` when the expression is valid.
 */
export function cronProblem(expr: string): string | null {
  try {
    new Cron(expr, { paused: true, mode: CRON_MODE });
    return null;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).replace(/^CronPattern: /, "");
  }
}

const cron = z.string().superRefine((value, ctx) => {
  const problem = cronProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: `Invalid cron "${value}": ${problem}` });
});

const timezone = z.string().superRefine((value, ctx) => {
  if (!isTimezone(value)) {
    ctx.addIssue({
      code: "custom",
      message: `Unknown time zone "${value}": expected an IANA name such as "Europe/Berlin"`,
    });
  }
});

const duration = z.string().superRefine((value, ctx) => {
  if (parseDuration(value) === null) {
    ctx.addIssue({
      code: "custom",
      message: `Invalid duration "${value}": expected e.g. "30m", "2h", "1d" or "1h30m"`,
    });
  }
});

/**
 * One entry of a schedule file, as written (snake_case keys, as the seed). Strict:
 * unknown keys are errors.
 */
export const scheduleEntrySchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'Expected letters, digits, "_", "." or "-"'),
  cron,
  dag: z.string().min(1),
  tenant: z.string().min(1),
  enabled: z.boolean().default(true),
  timezone: timezone.optional(),
  params: z.record(z.string(), z.unknown()).default({}),
  overlap: z.enum(["skip", "allow"]).default("skip"),
  catchup_window: duration.optional(),
});

/** A schedule entry after validation and defaults. */
export type ScheduleEntry = z.output<typeof scheduleEntrySchema>;

/** The keys a schedule entry may have, for "did you mean" hints. */
export const SCHEDULE_KEYS: readonly string[] = Object.keys(scheduleEntrySchema.shape);

/** A loaded schedule: a cron expression in a time zone, firing runs of a DAG. */
export interface Schedule {
  id: string;
  cron: string;
  /** The DAG path as written (relative to the current directory). */
  dag: string;
  /** The DAG path resolved to an absolute path. */
  dagPath: string;
  tenant: string;
  enabled: boolean;
  /** IANA time zone; the machine's local zone when the entry has none. */
  timezone: string;
  /** Run parameters passed to every task as `run__<key>`. */
  params: Record<string, unknown>;
  /** `skip`: a minute whose previous run of this schedule still runs is skipped. */
  overlap: "skip" | "allow";
  /** How far back missed fire times are caught up; `null` for no catch-up. */
  catchupWindowMs: number | null;
  /** Where the entry is defined (1-based line and column). */
  source: { file: string; line: number; column: number };
}
