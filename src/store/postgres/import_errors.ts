import { OrchestratorError } from "../../lib/errors.ts";

/** `orch db import` found events already in the target store (and `--force` was not given). */
export class ImportTargetNotEmptyError extends OrchestratorError {
  /** The store, password redacted. */
  readonly store: string;
  /** Rows already in `events` and `state_events`. */
  readonly rows: { events: number; stateEvents: number };
  /**
   * @param store The store, password redacted.
   * @param rows Rows already there.
   */
  constructor(store: string, rows: { events: number; stateEvents: number }) {
    super(
      `Cannot import into ${store}: it already has ${rows.events} event(s) and ${rows.stateEvents} state event(s); nothing was imported`,
      {
        code: "import_target_not_empty",
        exitCode: 2,
        hint:
          "The logs were probably imported already. To add another host's logs (other run ids) anyway, pass --force",
      },
    );
    this.name = "ImportTargetNotEmptyError";
    this.store = store;
    this.rows = rows;
  }
}

/** A log file named for `orch db import` does not exist (or neither default file does). */
export class ImportSourceMissingError extends OrchestratorError {
  /** The missing paths. */
  readonly paths: string[];
  /** @param paths The missing paths. */
  constructor(paths: string[]) {
    super(`Cannot import: no file at ${paths.map((p) => `"${p}"`).join(" or ")}`, {
      code: "import_source_missing",
      exitCode: 2,
      hint:
        "Pass --events FILE and --state FILE, or set ORCH_EVENTS_PATH and STATE_STORE_PATH as the JSONL installation had them",
    });
    this.name = "ImportSourceMissingError";
    this.paths = paths;
  }
}

/** The database refused part of an `orch db import`; the transaction was rolled back whole. */
export class ImportFailedError extends OrchestratorError {
  /** The store, password redacted. */
  readonly store: string;
  /** PostgreSQL's SQLSTATE, when the server refused a statement. */
  readonly sqlState: string | null;
  /**
   * @param store The store, password redacted.
   * @param cause What failed (usually a PostgresError).
   */
  constructor(store: string, cause: unknown) {
    const sqlState = typeof (cause as { code?: unknown })?.code === "string"
      ? (cause as { code: string }).code
      : null;
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`Cannot import into ${store}: ${reason}; nothing was imported`, {
      code: "import_failed",
      exitCode: 4,
      cause,
      hint: sqlState === "22P05"
        ? "A line holds a \\u0000 character, which PostgreSQL cannot store in jsonb: remove or edit that line and import again"
        : "The import ran in one transaction and was rolled back: fix the cause and run it again",
    });
    this.name = "ImportFailedError";
    this.store = store;
    this.sqlState = sqlState;
  }
}
