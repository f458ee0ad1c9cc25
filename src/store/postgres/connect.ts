import postgres from "postgres";
import type { PostgresStoreConfig } from "./config.ts";
import { StoreUnavailableError } from "./errors.ts";

/** A postgres.js client (a pool). Whoever creates one must `await sql.end()`. */
export type Sql = postgres.Sql;
/** A postgres.js transaction handle. */
export type TransactionSql = postgres.TransactionSql;
/** A postgres.js dedicated session from `sql.reserve()`. */
export type ReservedSql = postgres.ReservedSql;

/** Options of {@link connectPostgres}. */
export interface ConnectOptions {
  /** Pool size (default the config's `max`). The leader uses 1. */
  max?: number;
  /** `application_name` (default `orch`), visible in `pg_stat_activity`. */
  applicationName?: string;
  /**
   * For a session that holds advisory locks: the client never closes it for being idle
   * or old (the server's `idle_session_timeout` still ends it if the process hangs).
   */
  dedicated?: boolean;
  /** Called when one of the client's connections closes (postgres.js `onclose`). */
  onClose?: () => void;
  /**
   * For LISTEN only: no `idle_session_timeout`, which would end the listening session
   * every few seconds (it is idle by nature; it holds no lock a hung process could keep).
   */
  listen?: boolean;
}

/** How to open a LISTEN client with the settings of a client {@link connectPostgres} made. */
const LISTEN_CLIENTS = new WeakMap<postgres.Sql, () => Sql>();

/**
 * A client for LISTEN only, with the settings of `sql` (server, schema, application
 * name) but no `idle_session_timeout` (see {@link ConnectOptions.listen}). Its own pool
 * stays unused: `listen()` opens its one listening session.
 * @param sql A client made by {@link connectPostgres}.
 * @returns The new client (end it when done), or null for a client made otherwise.
 */
export function openListenClient(sql: Sql): Sql | null {
  return LISTEN_CLIENTS.get(sql)?.() ?? null;
}

/**
 * Server-side TCP liveness: a peer that vanished is noticed in about 5 s. Keepalives cover
 * an idle connection; `tcp_user_timeout` (ms) covers one whose last reply was never
 * acknowledged (a link cut right after the server answered), where keepalives do not
 * apply and retransmissions would hold the session, its transaction and its locks for
 * many minutes (seen in the network-namespace leader test).
 */
const KEEPALIVES = {
  tcp_keepalives_idle: 2,
  tcp_keepalives_interval: 1,
  tcp_keepalives_count: 3,
  tcp_user_timeout: 5000,
};

/**
 * Creates a postgres.js pool for the store. Lazy: nothing connects until the first
 * query (use {@link pingPostgres} to fail early). The user is always explicit
 * (postgres.js would otherwise need `$USER` or `--allow-sys`); `search_path` is the
 * config's schema; `idle_session_timeout` and TCP keepalives make the server end the
 * sessions (and free the advisory locks) of a hung or partitioned process within
 * seconds. Pooled connections close on the client after half that idle time, before
 * the server would end them.
 * @param config The parsed store config.
 * @param options Pool size and application name.
 * @returns The client; `await sql.end()` when done.
 */
export function connectPostgres(config: PostgresStoreConfig, options: ConnectOptions = {}): Sql {
  const idleMs = options.listen ? 0 : config.idleSessionTimeoutMs;
  const dedicated = options.dedicated || options.listen;
  const sql = postgres({
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    database: config.database,
    ssl: config.ssl === "require" ? "require" : false,
    max: options.listen ? 1 : options.max ?? config.max,
    connect_timeout: config.connectTimeoutS,
    idle_timeout: dedicated ? 0 : idleMs > 0 ? Math.max(1, Math.floor(idleMs / 2000)) : 30,
    max_lifetime: dedicated ? null : undefined,
    keep_alive: 2,
    onnotice: () => {},
    onclose: options.onClose ? () => options.onClose?.() : undefined,
    connection: {
      application_name: options.applicationName ?? "orch",
      search_path: config.schema,
      idle_session_timeout: idleMs,
      ...KEEPALIVES,
    },
  });
  LISTEN_CLIENTS.set(
    sql,
    () => connectPostgres(config, { ...options, onClose: undefined, listen: true }),
  );
  return sql;
}

/**
 * Runs `select 1` so a wrong host, port, user or database fails now with a clear error.
 * @param sql The client.
 * @param config The config, for the message.
 * @throws {StoreUnavailableError} When the server cannot be reached or refuses the session.
 */
export async function pingPostgres(sql: Sql, config: PostgresStoreConfig): Promise<void> {
  try {
    await sql`select 1`;
  } catch (err) {
    throw new StoreUnavailableError(config.redacted, err);
  }
}

/**
 * A 64-bit advisory lock key for `name` within the config's database and schema, so
 * tests in separate schemas never contend. Computed by the server (`hashtextextended`).
 * @param schema The schema.
 * @param name What the lock guards, e.g. `leader:scheduler`.
 * @returns The text the server hashes; pass to `hashtextextended(text, 0)`.
 */
export function lockName(schema: string, name: string): string {
  return `orch:${schema}:${name}`;
}

/** `application_name` is cut by the server at 63 bytes (NAMEDATALEN - 1). */
const MAX_APP_NAME = 63;

/**
 * The `application_name` of a store session: the role (e.g. `orch worker`) and the
 * schema, so that `pg_stat_activity` tells which orch processes serve which schema (the
 * worker presence check reads it). A schema that would not fit is named by a short hash.
 * @param name The role, e.g. `orch worker`.
 * @param schema The store's schema.
 * @returns E.g. `orch worker [orch]`, at most 63 bytes.
 */
export function sessionName(name: string, schema: string): string {
  const full = `${name} [${schema}]`;
  if (new TextEncoder().encode(full).length <= MAX_APP_NAME) return full;
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(schema)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `${name} [#${h.toString(16).padStart(8, "0")}]`.slice(0, MAX_APP_NAME);
}
