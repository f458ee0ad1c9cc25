/**
 * Test helpers for the PostgreSQL backend. The server is ORCH_TEST_PG when set, else
 * postgres://postgres@127.0.0.1:5432/orch_test when something answers there (CI starts
 * it with .ci/postgres.sh); with neither, the tests are ignored. Each test works in its
 * own schema, created by the migration and dropped at the end.
 */
import {
  connectPostgres,
  migrate,
  parseStoreConfig,
  type PostgresStoreConfig,
  type Sql,
} from "../../src/store/postgres/mod.ts";

const DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/orch_test";

async function answers(hostname: string, port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname, port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

async function findServer(): Promise<string | null> {
  const fromEnv = Deno.env.get("ORCH_TEST_PG");
  if (fromEnv) return fromEnv;
  if (await answers("127.0.0.1", 5432)) return DEFAULT_URL;
  console.warn(
    "tests/postgres: ignored: ORCH_TEST_PG is unset and nothing answers on 127.0.0.1:5432 " +
      "(start one with .ci/postgres.sh)",
  );
  return null;
}

/** The server's base URL (no schema), or null when the tests are ignored. */
export const PG_URL: string | null = await findServer();

/** What a test gets: its own schema, a client on it, and the URL that names it. */
export interface PgScope {
  schema: string;
  url: string;
  config: PostgresStoreConfig;
  sql: Sql;
}

/**
 * The URL of a schema on the test server.
 * @param schema The schema.
 * @returns The URL with `?schema=`.
 */
export function schemaUrl(schema: string): string {
  const url = new URL(PG_URL!);
  url.searchParams.set("schema", schema);
  return url.toString();
}

/**
 * Parses a URL that must be a postgres store.
 * @param url The URL.
 * @returns The config.
 */
export function pgConfig(url: string): PostgresStoreConfig {
  const config = parseStoreConfig(url);
  if (config.kind !== "postgres") throw new TypeError(`Not a postgres URL: ${url}`);
  return config;
}

/**
 * Registers a test that runs in a fresh, migrated schema (dropped afterwards), ignored
 * without a server.
 * @param name The test name.
 * @param fn The test body.
 * @param options `migrate: false` leaves the schema empty (not even created).
 */
export function pgTest(
  name: string,
  fn: (scope: PgScope, t: Deno.TestContext) => Promise<void>,
  options: { migrate?: boolean } = {},
): void {
  Deno.test({
    name,
    ignore: PG_URL === null,
    fn: async (t) => {
      const schema = `orch_t_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
      const url = schemaUrl(schema);
      const config = pgConfig(url);
      const sql = connectPostgres(config);
      try {
        if (options.migrate ?? true) await migrate(sql, { schema });
        await fn({ schema, url, config, sql }, t);
      } finally {
        try {
          await sql`drop schema if exists ${sql(schema)} cascade`;
        } finally {
          await sql.end();
        }
      }
    },
  });
}

/**
 * Runs a Deno script in a child process.
 * @param script Path relative to this folder.
 * @param args Its arguments.
 * @returns The child (stdout and stderr piped).
 */
export function spawnChild(script: string, args: string[]): Deno.ChildProcess {
  const path = new URL(script, import.meta.url).pathname;
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", path, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * Runs a Deno script in a child process to the end.
 * @param script Path relative to this folder.
 * @param args Its arguments.
 * @param env Extra environment variables.
 * @returns Exit code and decoded output.
 */
export async function runScript(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const path = new URL(script, import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", path, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Reads a child's stdout line by line.
 * @param child The child process.
 * @returns Its lines as they come.
 */
export async function* stdoutLines(child: Deno.ChildProcess): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) yield buf;
}

/**
 * Collects a child's stderr as it comes (stdout is discarded).
 * @param child The child, with stdout and stderr piped.
 * @returns The text so far, and a promise of the end of the stream.
 */
export function collectStderr(child: Deno.ChildProcess): { text(): string; done: Promise<void> } {
  let text = "";
  const dec = new TextDecoder();
  const done = child.stderr.pipeTo(
    new WritableStream({
      write(chunk) {
        text += dec.decode(chunk, { stream: true });
      },
    }),
  ).catch(() => {});
  child.stdout.cancel().catch(() => {});
  return { text: () => text, done };
}
