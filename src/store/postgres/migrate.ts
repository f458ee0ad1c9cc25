import type { Sql } from "./connect.ts";
import { lockName } from "./connect.ts";
import { MigrationError } from "./errors.ts";
import { type Migration, MIGRATIONS } from "./migrations.ts";

/** A version recorded in `orch_migrations`. */
export interface AppliedMigration {
  version: number;
  name: string;
  appliedAt: Date;
}

/** What {@link migrationStatus} reports. */
export interface MigrationStatus {
  /** The schema inspected. */
  schema: string;
  /** Versions the database has, oldest first. */
  applied: AppliedMigration[];
  /** Versions this orch knows and the database lacks, oldest first. */
  pending: Migration[];
  /** Versions the database has that this orch does not know (a newer orch migrated it). */
  unknown: number[];
}

/** Options of {@link migrate} and {@link migrationStatus}. */
export interface MigrateOptions {
  /** The schema the connection's `search_path` points at (default `public`). */
  schema?: string;
  /** The migrations (default {@link MIGRATIONS}); tests pass their own. */
  migrations?: readonly Migration[];
}

/**
 * Brings the schema up to date. Each pending version runs in its own transaction that
 * first takes a transaction-scoped advisory lock on the schema, so any number of
 * processes may call this at once: one applies each version, the others wait, then see
 * it recorded and skip it. A failing version rolls back alone; earlier ones stay.
 * @param sql The client, whose `search_path` is `options.schema`.
 * @param options Schema and migrations.
 * @returns The versions this call applied (empty when up to date).
 * @throws {MigrationError} When a statement fails.
 */
export async function migrate(sql: Sql, options: MigrateOptions = {}): Promise<number[]> {
  const schema = options.schema ?? "public";
  const applied: number[] = [];
  for (const m of options.migrations ?? MIGRATIONS) {
    try {
      const did = await sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(hashtextextended(${lockName(schema, "migrate")}, 0))`;
        await tx`create schema if not exists ${tx(schema)}`;
        await tx`create table if not exists ${tx(schema)}.orch_migrations (
          version integer primary key,
          name text not null,
          applied_at timestamptz not null default now()
        )`;
        const [row] = await tx`select 1 as one from ${tx(schema)}.orch_migrations
          where version = ${m.version}`;
        if (row) return false;
        for (const stmt of m.statements) await tx.unsafe(stmt);
        await tx`insert into ${tx(schema)}.orch_migrations (version, name)
          values (${m.version}, ${m.name})`;
        return true;
      });
      if (did) applied.push(m.version);
    } catch (err) {
      throw new MigrationError(m.version, err);
    }
  }
  return applied;
}

/**
 * Which versions are applied and which are pending. Reads only; takes no lock.
 * @param sql The client.
 * @param options Schema and migrations.
 * @returns Applied, pending and unknown versions.
 */
export async function migrationStatus(
  sql: Sql,
  options: MigrateOptions = {},
): Promise<MigrationStatus> {
  const schema = options.schema ?? "public";
  const known = options.migrations ?? MIGRATIONS;
  const [{ exists }] = await sql`select to_regclass(${schema + ".orch_migrations"}) is not null
    as exists`;
  const rows = exists
    ? await sql<{ version: number; name: string; applied_at: Date }[]>`
      select version, name, applied_at from ${sql(schema)}.orch_migrations order by version`
    : [];
  const have = new Set(rows.map((r) => r.version));
  const knownVersions = new Set(known.map((m) => m.version));
  return {
    schema,
    applied: rows.map((r) => ({ version: r.version, name: r.name, appliedAt: r.applied_at })),
    pending: known.filter((m) => !have.has(m.version)),
    unknown: rows.map((r) => r.version).filter((v) => !knownVersions.has(v)),
  };
}
