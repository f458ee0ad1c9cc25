/**
 * Which store backend the suite runs against: `ORCH_TEST_BACKEND=postgres` runs the same
 * tests on PostgreSQL (ORCH_TEST_PG, else postgres://postgres@127.0.0.1:5432/orch_test),
 * each sandbox or store in its own schema, dropped at cleanup. Unset means JSONL.
 */
import { join } from "node:path";
import type { Clock } from "../../src/lib/clock.ts";
import { isRunLockHeld } from "../../src/run/liveness.ts";
import { JsonlStore, openStore } from "../../src/run/open_store.ts";
import {
  connectPostgres,
  parseStoreConfig,
  type PostgresStoreConfig,
  type Sql,
} from "../../src/store/postgres/mod.ts";
import type { Store } from "../../src/store/store.ts";

/** The backend under test. */
export const BACKEND: "jsonl" | "postgres" = Deno.env.get("ORCH_TEST_BACKEND") === "postgres"
  ? "postgres"
  : "jsonl";
/** True when the suite runs against PostgreSQL. */
export const ON_PG = BACKEND === "postgres";

const PG_BASE = Deno.env.get("ORCH_TEST_PG") ?? "postgres://postgres@127.0.0.1:5432/orch_test";

/**
 * For `Deno.test({ ignore })` of tests inherently about the JSONL files.
 * @param _reason Why the test means nothing on PostgreSQL (kept in the source).
 * @returns True when the suite runs on PostgreSQL.
 */
export function jsonlOnly(_reason: string): boolean {
  return ON_PG;
}

/** @returns A fresh schema name. */
export function newSchema(prefix = "orch_e"): string {
  return `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

/**
 * @param schema The schema.
 * @returns The store URL of a schema on the test server.
 */
export function pgUrl(schema: string): string {
  const url = new URL(PG_BASE);
  url.searchParams.set("schema", schema);
  return url.toString();
}

function pgConfig(url: string): PostgresStoreConfig {
  const c = parseStoreConfig(url);
  if (c.kind !== "postgres") throw new TypeError(`Not a postgres URL: ${url}`);
  return c;
}

/**
 * Runs `fn` with a one-connection client on the URL's schema, then ends it.
 * @param url The store URL.
 * @param fn The queries.
 * @returns What `fn` returns.
 */
export async function withSql<T>(url: string, fn: (sql: Sql) => Promise<T>): Promise<T> {
  const sql = connectPostgres(pgConfig(url), { max: 1, applicationName: "orch test" });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

/**
 * Drops a schema of the test server (cleanup).
 * @param url The store URL naming it.
 */
export async function dropSchema(url: string): Promise<void> {
  const schema = pgConfig(url).schema;
  await withSql(url, (sql) => sql`drop schema if exists ${sql(schema)} cascade`);
}

/**
 * Reads a table's `body` column in id order; `[]` when the schema has no tables yet.
 * @param url The store URL.
 * @param table `events` or `state_events`.
 * @returns The bodies.
 */
export async function readTable(
  url: string,
  table: "events" | "state_events",
): Promise<Record<string, unknown>[]> {
  return await withSql(url, async (sql) => {
    const [{ ok }] = await sql`select to_regclass(${table}) is not null as ok`;
    if (!ok) return [];
    const rows = await sql<{ body: Record<string, unknown> }[]>`
      select body from ${sql(table)} order by id`;
    return rows.map((r) => r.body);
  });
}

/**
 * Empties tables of the URL's schema (when it has them).
 * @param url The store URL.
 * @param tables The tables, truncated together.
 */
export async function truncate(url: string, tables: string[]): Promise<void> {
  await withSql(url, async (sql) => {
    const [{ ok }] = await sql`select to_regclass('state_events') is not null as ok`;
    if (ok) await sql.unsafe(`truncate ${tables.join(", ")} restart identity cascade`);
  });
}

/** A store for in-process tests and how to drop it. */
export interface TestStore {
  store: Store;
  /** The PostgreSQL URL (with its schema), when on PostgreSQL. */
  url?: string;
  cleanup(): Promise<void>;
}

/**
 * A store of the backend under test: JSONL files in `dir`, or a fresh PostgreSQL schema.
 * @param dir A temp directory (JSONL files, `runs/` locks).
 * @param options Clock of the state store, heartbeat interval (PostgreSQL).
 * @returns The store and its cleanup (which closes it).
 */
export async function testStore(
  dir: string,
  options: { clock?: Clock; heartbeatMs?: number } = {},
): Promise<TestStore> {
  const paths = { statePath: join(dir, "state.jsonl"), eventsPath: join(dir, "events.jsonl") };
  if (!ON_PG) {
    return { store: new JsonlStore(paths, options), cleanup: () => Promise.resolve() };
  }
  const url = pgUrl(newSchema("orch_s"));
  const store = await openStore(pgConfig(url), { paths, ...options });
  return {
    store,
    url,
    async cleanup() {
      try {
        await store.close();
      } finally {
        await dropSchema(url);
      }
    },
  };
}

/**
 * Whether a run is marked alive: its lock file is held (JSONL, `runs/` in `dir`) or its
 * heartbeat is set (PostgreSQL).
 * @param ts The test store.
 * @param dir The directory given to {@link testStore}.
 * @param runId The run.
 * @returns True while the run's process holds it.
 */
export async function isMarkedAlive(ts: TestStore, dir: string, runId: string): Promise<boolean> {
  if (!ts.url) return await isRunLockHeld(join(dir, "runs"), runId);
  return await withSql(ts.url, async (sql) => {
    const [row] =
      await sql`select coalesce(isfinite(heartbeat), false) as beat from runs where run_id = ${runId}`;
    return Boolean(row?.beat);
  });
}

/**
 * Runs `fn` with a store of the backend under test in a fresh temp directory, then
 * closes and drops it.
 * @param fn The test body.
 * @param options Clock of the state store.
 */
export async function withTestStore(
  fn: (store: Store, dir: string) => Promise<void>,
  options: { clock?: Clock } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "orch_store_" });
  try {
    const ts = await testStore(dir, options);
    try {
      await fn(ts.store, dir);
    } finally {
      await ts.cleanup();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
