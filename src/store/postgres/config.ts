import { StoreConfigError } from "./errors.ts";

/**
 * Which store backend to use, parsed from `ORCH_STORE` or `--store`. Pure: no I/O,
 * no environment reads (the caller passes the values).
 */
export type StoreConfig = JsonlStoreConfig | PostgresStoreConfig;

/** The embedded default: JSONL files under `logs/`. */
export interface JsonlStoreConfig {
  readonly kind: "jsonl";
}

/** A PostgreSQL database shared by any number of orch processes. */
export interface PostgresStoreConfig {
  readonly kind: "postgres";
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  readonly database: string;
  /** Schema for orch's tables (`?schema=`); default `public`. */
  readonly schema: string;
  /** Largest number of pooled connections (`?max=`, default 4). */
  readonly max: number;
  /** Seconds to wait for a connection (`?connect_timeout=`, default 5). */
  readonly connectTimeoutS: number;
  /**
   * Server-side `idle_session_timeout` in ms (`?idle_session_timeout=`, default 5000): a
   * hung or partitioned process's sessions, and so its advisory locks, end after this.
   */
  readonly idleSessionTimeoutMs: number;
  /** `?sslmode=`: `disable` (default) or `require`. */
  readonly ssl: "disable" | "require";
  /** The URL with any password replaced by `***`, for messages. */
  readonly redacted: string;
}

const DEFAULT_PORT = 5432;
const PARAMS = ["schema", "max", "connect_timeout", "idle_session_timeout", "sslmode"] as const;
const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Parses a store value: absent, empty or `jsonl` means the JSONL files; otherwise a
 * `postgres://` (or `postgresql://`) URL with a user, e.g. `postgres://orch@db:5432/orch`.
 * @param value The value of `--store` or `ORCH_STORE`.
 * @returns The typed config.
 * @throws {StoreConfigError} When the value is neither, or the URL lacks a user or database.
 */
export function parseStoreConfig(value: string | undefined): StoreConfig {
  const raw = value?.trim() ?? "";
  if (raw === "" || raw === "jsonl") return { kind: "jsonl" };
  const shown = redactUrl(raw);
  if (!/^postgres(ql)?:\/\//i.test(raw)) {
    throw new StoreConfigError(shown, `Cannot use store "${shown}": expected jsonl or postgres://`);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new StoreConfigError(shown, `Cannot parse store URL "${shown}"`);
  }
  const bad = (why: string) => new StoreConfigError(shown, `Cannot use store "${shown}": ${why}`);
  const user = decodeURIComponent(url.username);
  if (!user) throw bad("no user (postgres://USER@HOST/DB)");
  const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (!database || database.includes("/")) throw bad("no database name (postgres://USER@HOST/DB)");
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) throw bad("no host");
  for (const key of url.searchParams.keys()) {
    if (!(PARAMS as readonly string[]).includes(key)) {
      throw bad(`unknown parameter "${key}" (known: ${PARAMS.join(", ")})`);
    }
  }
  const q = url.searchParams;
  const schema = q.get("schema") ?? "public";
  if (!IDENT.test(schema)) throw bad(`schema "${schema}" must match ${IDENT.source}`);
  const sslmode = q.get("sslmode") ?? "disable";
  if (sslmode !== "disable" && sslmode !== "require") {
    throw bad(`sslmode "${sslmode}" must be disable or require`);
  }
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  return {
    kind: "postgres",
    host,
    port: url.port ? Number(url.port) : DEFAULT_PORT,
    user,
    ...(password === undefined ? {} : { password }),
    database,
    schema,
    max: intParam(q, "max", 4, { min: 1, max: 100 }, bad),
    connectTimeoutS: intParam(q, "connect_timeout", 5, { min: 1, max: 600 }, bad),
    idleSessionTimeoutMs: intParam(
      q,
      "idle_session_timeout",
      5000,
      { min: 0, max: 3_600_000 },
      bad,
    ),
    ssl: sslmode,
    redacted: shown,
  };
}

/**
 * The store chosen by the command line, else the environment.
 * @param sources `flag` (the value of `--store`) and `env` (reads `ORCH_STORE`).
 * @returns The typed config; jsonl when neither is set.
 * @throws {StoreConfigError} When the chosen value is invalid.
 */
export function resolveStoreConfig(
  sources: { flag?: string; env?: Readonly<Record<string, string | undefined>> },
): StoreConfig {
  return parseStoreConfig(sources.flag ?? sources.env?.ORCH_STORE);
}

/**
 * Replaces the password of a URL-like string with `***`.
 * @param value A store URL.
 * @returns The URL safe to print.
 */
export function redactUrl(value: string): string {
  return value.replace(/^([a-z]+:\/\/[^:/@]*):[^@/]*@/i, "$1:***@");
}

function intParam(
  q: URLSearchParams,
  key: string,
  dflt: number,
  range: { min: number; max: number },
  bad: (why: string) => Error,
): number {
  const raw = q.get(key);
  if (raw === null) return dflt;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < range.min || n > range.max) {
    throw bad(`${key} "${raw}" must be a whole number from ${range.min} to ${range.max}`);
  }
  return n;
}
