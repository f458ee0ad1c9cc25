import type { Migration } from "./migrations.ts";
import { CHANNEL_FUNCTION } from "./_channels.ts";

/** The server functions that notify; each takes the store's schema as `p_schema`. */
const NOTIFIERS = ["orch_run_end", "orch_complete_ok"] as const;

/** `pg_notify('orch_…', …)`: a notification on a channel named in the SQL text. */
const GLOBAL_NOTIFY = /pg_notify\('(orch_[a-z_]+)',/g;

/**
 * The latest definition of a server function among `earlier` migrations.
 * @throws {Error} When none defines it (a programming error, at import).
 */
function latestDefinition(earlier: readonly Migration[], fn: string): string {
  const head = new RegExp(`create (or replace )?function ${fn}\\(`);
  const text = earlier.flatMap((m) => m.statements).findLast((s) => head.test(s));
  if (!text) throw new Error(`migration "per-schema channels": no earlier "${fn}"`);
  return text.replace(head, `create or replace function ${fn}(`);
}

/**
 * The notifying functions as last defined by `earlier`, with each notification sent on
 * the store's own channel: `pg_notify(orch_channel('orch_run_progress', p_schema), …)`
 * instead of the database-wide `orch_run_progress`.
 * @throws {Error} When a function does not notify or has no `p_schema` (at import).
 */
function perSchemaNotifier(earlier: readonly Migration[], fn: string): string {
  const text = latestDefinition(earlier, fn);
  if (!text.includes("p_schema text") || !text.includes("pg_notify('orch_")) {
    throw new Error(`migration "per-schema channels": "${fn}" changed shape`);
  }
  return text.replace(GLOBAL_NOTIFY, "pg_notify(orch_channel('$1', p_schema),");
}

/**
 * The migration that makes notification channels per schema (see `_channels.ts`): it
 * adds `orch_channel(kind, schema)` and redefines the server functions that notify, as
 * the earlier migrations last left them, to notify on their store's channel. Built from
 * the earlier migrations, so a later rewrite of those functions that still names a global
 * channel is caught by the test that reads the functions back.
 * @param version Its version (after every one in `earlier`).
 * @param earlier The migrations before it.
 * @returns The migration.
 * @throws {RangeError} When `version` is not after `earlier`'s (at import).
 */
export function perSchemaChannels(version: number, earlier: readonly Migration[]): Migration {
  const last = Math.max(0, ...earlier.map((m) => m.version));
  if (version <= last) {
    throw new RangeError(`Migration "per-schema channels" must come after ${last}: got ${version}`);
  }
  return {
    version,
    name: "notification channels per schema (orch_channel)",
    statements: [CHANNEL_FUNCTION, ...NOTIFIERS.map((fn) => perSchemaNotifier(earlier, fn))],
  };
}
