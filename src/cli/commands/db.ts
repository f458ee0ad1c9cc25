import { resolve } from "node:path";
import { connectPostgres, pingPostgres } from "../../store/postgres/connect.ts";
import { importLogs, type ImportReport } from "../../store/postgres/import.ts";
import { ImportSourceMissingError } from "../../store/postgres/import_errors.ts";
import { StoreConfigError } from "../../store/postgres/errors.ts";
import { migrate, type MigrationStatus, migrationStatus } from "../../store/postgres/migrate.ts";
import type { PostgresStoreConfig } from "../../store/postgres/config.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";

/** One line for `orch --help`. */
export const DB_SUMMARY =
  "Migrate the PostgreSQL store, show its schema version, import JSONL logs";

export const DB_HELP = `Usage: orch db migrate [--store URL]
       orch db status  [--store URL] [--json]
       orch db import  [--store URL] [--events FILE] [--state FILE] [--force]

Manages the schema of the PostgreSQL store (ORCH_STORE or --store, e.g.
postgres://orch@db.example:5432/orch?schema=orch). 'migrate' applies the pending
versions, each in its own transaction under an advisory lock, so several processes may
migrate at once. 'status' lists the applied and pending versions.

'import' moves a JSONL installation to the store: it migrates, then copies the events
file (--events, default ORCH_EVENTS_PATH) and the state file (--state, default
STATE_STORE_PATH, with its .watermarks.json) in one transaction, rebuilding runs,
schedule-minutes and watermarks, so 'orch runs', 'retry', 'schedules' and the scheduler
carry on where the files left off. Torn or corrupt lines are skipped and counted. Stop
every orch process that writes the files first. A store that already has events is
refused. --force imports into it anyway, adding only the lines it does not hold yet: the
same logs imported again add nothing (no event, run, schedule-minute or watermark twice),
logs that grew add their new lines, another host's logs are added. Either way it is all
or nothing: a failed or interrupted import leaves the store as it was.
Runs the files leave unfinished are recorded 'interrupted' by the next 'orch runs' or
scheduler tick once their process is gone.
Exit 0 ok, 2 no store configured, a bad URL, the server unreachable, a missing file or a
store that is not empty, 4 a failed migration.
`;

/**
 * `orch db migrate|status|import`: the PostgreSQL store's versioned schema, and the import
 * of a JSONL installation's logs.
 * @param ctx The app context (the store from `--store` or ORCH_STORE, output streams).
 * @param args `migrate`, `status` (`--json`) or `import` (`--events`, `--state`, `--force`).
 * @returns The exit code.
 * @throws {UsageError} On a missing or unknown subcommand.
 * @throws {StoreConfigError} When no postgres store is configured or the URL is invalid.
 * @throws {StoreUnavailableError} When the server cannot be reached.
 * @throws {MigrationError} When a migration fails.
 * @throws {ImportSourceMissingError} When a file to import does not exist.
 * @throws {ImportTargetNotEmptyError} When the store has events (without `--force`).
 */
export async function dbCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("db", args, {
    json: { type: "boolean" },
    events: { type: "string" },
    state: { type: "string" },
    force: { type: "boolean" },
  });
  if (values.help) {
    ctx.io.stdout(DB_HELP);
    return 0;
  }
  const [sub, ...extra] = positionals;
  if (sub !== "migrate" && sub !== "status" && sub !== "import") {
    throw new UsageError(
      sub ? `Unknown db command "${sub}"` : "Missing migrate, status or import",
      "db",
    );
  }
  if (sub !== "import") {
    for (const name of ["events", "state", "force"]) {
      if (values[name] !== undefined) {
        throw new UsageError(`Option --${name} is only for 'orch db import'`, "db");
      }
    }
  }
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}"`, "db");
  const config = ctx.storeConfig;
  if (config.kind !== "postgres") {
    throw new StoreConfigError(
      "",
      "Cannot run 'orch db' without a PostgreSQL store: set ORCH_STORE or pass --store",
    );
  }
  const files = sub === "import" ? await importFiles(ctx, values) : null;
  const sql = connectPostgres(config, { max: 1, applicationName: "orch db" });
  try {
    await pingPostgres(sql, config);
    if (files) {
      await migrate(sql, { schema: config.schema });
      const report = await importLogs(sql, {
        schema: config.schema,
        description: where(config),
        eventsPath: files.events,
        statePath: files.state,
        force: values.force === true,
      });
      ctx.io.stdout(importSummary(report) + "\n");
      if (report.unfinished > 0) {
        ctx.io.stderr(
          `Note: ${report.unfinished} run(s) were unfinished in the files; the next 'orch runs' or scheduler tick records them interrupted once their process is gone\n`,
        );
      }
      return 0;
    }
    if (sub === "migrate") {
      const applied = await migrate(sql, { schema: config.schema });
      const status = await migrationStatus(sql, { schema: config.schema });
      const now = status.applied.at(-1)?.version ?? 0;
      ctx.io.stdout(
        applied.length > 0
          ? `Applied ${applied.length} migration(s) (${applied.join(", ")}) to ${
            where(config)
          }; schema version ${now}\n`
          : `Schema of ${where(config)} is up to date at version ${now}\n`,
      );
      return 0;
    }
    const status = await migrationStatus(sql, { schema: config.schema });
    ctx.io.stdout(values.json ? JSON.stringify(statusJson(status)) + "\n" : render(status, config));
    return 0;
  } finally {
    await sql.end();
  }
}

/**
 * The files to import: the options, else the configured JSONL paths. A named file must
 * exist; a default one that does not is left out (but not both).
 */
async function importFiles(
  ctx: AppContext,
  values: Record<string, unknown>,
): Promise<{ events: string | null; state: string | null }> {
  const pick = async (given: unknown, fallback: string) => {
    const path = typeof given === "string" ? resolve(ctx.io.cwd, given) : fallback;
    const exists = await Deno.stat(path).then((s) => s.isFile, () => false);
    return { path, exists, given: typeof given === "string" };
  };
  const events = await pick(values.events, ctx.config.paths.eventsPath);
  const state = await pick(values.state, ctx.config.paths.statePath);
  const missing = [events, state].filter((f) => f.given && !f.exists);
  if (missing.length > 0) throw new ImportSourceMissingError(missing.map((f) => f.path));
  if (!events.exists && !state.exists) {
    throw new ImportSourceMissingError([events.path, state.path]);
  }
  return { events: events.exists ? events.path : null, state: state.exists ? state.path : null };
}

function importSummary(r: ImportReport): string {
  const skipped = r.skipped.events + r.skipped.state;
  const present = r.present.events + r.present.state;
  const extra = [
    `${r.minutes} schedule-minute(s)`,
    `${r.watermarks} watermark(s)`,
    ...(skipped > 0 ? [`skipped ${skipped} torn or corrupt line(s)`] : []),
    ...(present > 0 ? [`${present} line(s) already in the store`] : []),
  ];
  return `imported ${r.events} events, ${r.stateEvents} state events, ${r.runs} runs (${
    extra.join(", ")
  })`;
}

function where(config: PostgresStoreConfig): string {
  return `"${config.redacted}" (schema ${config.schema})`;
}

function statusJson(s: MigrationStatus) {
  return {
    schema: s.schema,
    applied: s.applied.map((m) => ({
      version: m.version,
      name: m.name,
      applied_at: m.appliedAt.toISOString(),
    })),
    pending: s.pending.map((m) => ({ version: m.version, name: m.name })),
    unknown: s.unknown,
  };
}

function render(s: MigrationStatus, config: PostgresStoreConfig): string {
  const lines = [`Store ${where(config)}`];
  for (const m of s.applied) {
    lines.push(`  applied  ${m.version}  ${m.appliedAt.toISOString()}  ${m.name}`);
  }
  for (const m of s.pending) lines.push(`  pending  ${m.version}  ${m.name}`);
  for (const v of s.unknown) lines.push(`  unknown  ${v}  (applied by a newer orch)`);
  const pending = s.pending.length;
  lines.push(
    pending > 0
      ? `${pending} pending: run 'orch db migrate'`
      : `Up to date at version ${s.applied.at(-1)?.version ?? 0}`,
  );
  return lines.join("\n") + "\n";
}
