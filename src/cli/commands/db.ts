import { connectPostgres, pingPostgres } from "../../store/postgres/connect.ts";
import { StoreConfigError } from "../../store/postgres/errors.ts";
import { migrate, type MigrationStatus, migrationStatus } from "../../store/postgres/migrate.ts";
import type { PostgresStoreConfig } from "../../store/postgres/config.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";

/** One line for `orch --help`. */
export const DB_SUMMARY = "Migrate the PostgreSQL store or show its schema version";

export const DB_HELP = `Usage: orch db migrate [--store URL]
       orch db status  [--store URL] [--json]

Manages the schema of the PostgreSQL store (ORCH_STORE or --store, e.g.
postgres://orch@db.example:5432/orch?schema=orch). 'migrate' applies the pending
versions, each in its own transaction under an advisory lock, so several processes may
migrate at once. 'status' lists the applied and pending versions.
Exit 0 ok, 2 no store configured, a bad URL or the server unreachable, 4 a failed migration.
`;

/**
 * `orch db migrate|status`: the PostgreSQL store's versioned schema.
 * @param ctx The app context (the store from `--store` or ORCH_STORE, output streams).
 * @param args `migrate` or `status`, then `--json`.
 * @returns The exit code.
 * @throws {UsageError} On a missing or unknown subcommand.
 * @throws {StoreConfigError} When no postgres store is configured or the URL is invalid.
 * @throws {StoreUnavailableError} When the server cannot be reached.
 * @throws {MigrationError} When a migration fails.
 */
export async function dbCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("db", args, {
    json: { type: "boolean" },
  });
  if (values.help) {
    ctx.io.stdout(DB_HELP);
    return 0;
  }
  const [sub, ...extra] = positionals;
  if (sub !== "migrate" && sub !== "status") {
    throw new UsageError(sub ? `Unknown db command "${sub}"` : "Missing migrate or status", "db");
  }
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}"`, "db");
  const config = ctx.storeConfig;
  if (config.kind !== "postgres") {
    throw new StoreConfigError(
      "",
      "Cannot run 'orch db' without a PostgreSQL store: set ORCH_STORE or pass --store",
    );
  }
  const sql = connectPostgres(config, { max: 1, applicationName: "orch db" });
  try {
    await pingPostgres(sql, config);
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
