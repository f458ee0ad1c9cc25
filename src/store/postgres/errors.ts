import { OrchestratorError } from "../../lib/errors.ts";

/** `ORCH_STORE` / `--store` has a value orch cannot use. */
export class StoreConfigError extends OrchestratorError {
  /** The value as given (with any password redacted). */
  readonly value: string;
  /**
   * @param value The offending value, already redacted.
   * @param message What is wrong with it.
   */
  constructor(value: string, message: string) {
    super(message, {
      code: "store_config_invalid",
      exitCode: 2,
      hint: "Use postgres://USER@HOST:5432/DATABASE (or leave ORCH_STORE unset for jsonl)",
    });
    this.name = "StoreConfigError";
    this.value = value;
  }
}

/** The PostgreSQL server cannot be reached or refused the session. */
export class StoreUnavailableError extends OrchestratorError {
  /** The store URL, password redacted. */
  readonly url: string;
  /**
   * @param url The store URL, password redacted.
   * @param cause The driver's error.
   */
  constructor(url: string, cause: unknown) {
    super(`Cannot connect to the store "${url}": ${describeCause(cause)}`, {
      code: "store_unavailable",
      exitCode: 2,
      hint: "Check that PostgreSQL runs and accepts this user and database (pg_isready -h HOST)",
      cause,
    });
    this.name = "StoreUnavailableError";
    this.url = url;
  }
}

/**
 * A schedule-minute was already recorded by another writer: the transaction was rolled
 * back, so the caller must not run what it decided.
 */
export class ScheduleMinuteConflictError extends OrchestratorError {
  /** `schedule_id minute_utc` of each key that was taken. */
  readonly keys: string[];
  /** @param keys The keys that were already recorded. */
  constructor(keys: string[]) {
    super(`Cannot record schedule-minute "${keys[0]}": already recorded by another writer`, {
      code: "schedule_minute_conflict",
      exitCode: 3,
    });
    this.name = "ScheduleMinuteConflictError";
    this.keys = keys;
  }
}

/** A write was attempted with a leader epoch that is no longer current (a stale leader). */
export class FencedError extends OrchestratorError {
  /** The epoch the writer holds. */
  readonly epoch: number | null;
  /** The current epoch in the database. */
  readonly current: number | null;
  /**
   * @param name The leadership name.
   * @param epoch The writer's epoch (null when it is not leader).
   * @param current The database's epoch.
   */
  constructor(name: string, epoch: number | null, current: number | null) {
    super(
      `Cannot write as leader "${name}": epoch ${epoch ?? "none"} is stale, current ${
        current ?? "none"
      }`,
      { code: "leader_fenced", exitCode: 3 },
    );
    this.name = "FencedError";
    this.epoch = epoch;
    this.current = current;
  }
}

/** A migration failed; the transaction of that version was rolled back. */
export class MigrationError extends OrchestratorError {
  /** The version that failed. */
  readonly version: number;
  /**
   * @param version The migration version.
   * @param cause The database error.
   */
  constructor(version: number, cause: unknown) {
    super(`Cannot apply migration ${version}: ${describeCause(cause)}`, {
      code: "migration_failed",
      exitCode: 4,
      cause,
    });
    this.name = "MigrationError";
    this.version = version;
  }
}

/**
 * One line about a driver or socket error (postgres.js errors carry `code`).
 * @param cause The thrown value.
 * @returns E.g. `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1`.
 */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    const msg = cause.message.split("\n")[0];
    return typeof code === "string" && !msg.includes(code) ? `${code}: ${msg}` : msg;
  }
  return String(cause);
}

/** The store's schema is missing, behind or ahead of this orch. */
export class StoreSchemaError extends OrchestratorError {
  /**
   * @param message What is wrong.
   * @param hint What to do.
   * @param cause The underlying error.
   */
  constructor(message: string, hint: string, cause?: unknown) {
    super(message, { code: "store_schema", exitCode: 2, hint, cause });
    this.name = "StoreSchemaError";
  }
}
