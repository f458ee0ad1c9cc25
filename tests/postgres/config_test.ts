import assert from "node:assert/strict";
import {
  parseStoreConfig,
  redactUrl,
  resolveStoreConfig,
  StoreConfigError,
} from "../../src/store/postgres/mod.ts";

Deno.test("parseStoreConfig() reads jsonl when the value is absent, empty or jsonl", () => {
  for (const v of [undefined, "", "  ", "jsonl"]) {
    assert.deepEqual(parseStoreConfig(v), { kind: "jsonl" });
  }
});

Deno.test("parseStoreConfig() reads a postgres URL with defaults", () => {
  assert.deepEqual(parseStoreConfig("postgres://orch@db.internal:5433/orch"), {
    kind: "postgres",
    host: "db.internal",
    port: 5433,
    user: "orch",
    database: "orch",
    schema: "public",
    max: 4,
    connectTimeoutS: 5,
    idleSessionTimeoutMs: 5000,
    ssl: "disable",
    redacted: "postgres://orch@db.internal:5433/orch",
  });
});

Deno.test("parseStoreConfig() reads password, IPv6 host, default port and parameters", () => {
  const c = parseStoreConfig(
    "postgresql://u%40x:s3cr%2Ft@[::1]/my%20db?schema=orch_a&max=8&connect_timeout=2&idle_session_timeout=3000&sslmode=require",
  );
  assert.equal(c.kind, "postgres");
  if (c.kind !== "postgres") return;
  assert.deepEqual(
    [c.user, c.password, c.host, c.port, c.database, c.schema, c.max, c.connectTimeoutS],
    ["u@x", "s3cr/t", "::1", 5432, "my db", "orch_a", 8, 2],
  );
  assert.equal(c.idleSessionTimeoutMs, 3000);
  assert.equal(c.ssl, "require");
  assert.ok(!c.redacted.includes("s3cr"), c.redacted);
});

Deno.test("parseStoreConfig() throws StoreConfigError naming the problem", async (t) => {
  const cases: [string, RegExp][] = [
    ["mysql://u@h/db", /expected jsonl or postgres:\/\//],
    ["postgres://h:5432/db", /no user/],
    ["postgres://u@h:5432/", /no database/],
    ["postgres://u@h:99999/db", /Cannot parse store URL/],
    ["postgres://u@h/db?schema=Bad-Name", /schema "Bad-Name"/],
    ["postgres://u@h/db?max=0", /max "0" must be a whole number from 1 to 100/],
    ["postgres://u@h/db?sslmode=verify-full", /sslmode "verify-full"/],
    ["postgres://u@h/db?search_path=x", /unknown parameter "search_path"/],
  ];
  for (const [value, message] of cases) {
    await t.step(value, () => {
      assert.throws(() => parseStoreConfig(value), (err: unknown) => {
        assert.ok(err instanceof StoreConfigError);
        assert.equal(err.exitCode, 2);
        assert.match(err.message, message);
        return true;
      });
    });
  }
});

Deno.test("parseStoreConfig() never puts a password in an error", () => {
  assert.throws(
    () => parseStoreConfig("postgres://u:hunter2@h/db?max=x"),
    (err: Error) => !err.message.includes("hunter2") && /u:\*\*\*@h/.test(err.message),
  );
});

Deno.test("resolveStoreConfig() prefers --store over ORCH_STORE", () => {
  const env = { ORCH_STORE: "postgres://a@h/x" };
  assert.equal(resolveStoreConfig({ env }).kind, "postgres");
  assert.equal(resolveStoreConfig({ flag: "jsonl", env }).kind, "jsonl");
  assert.equal(resolveStoreConfig({ env: {} }).kind, "jsonl");
});

Deno.test("redactUrl() hides only the password", () => {
  assert.equal(redactUrl("postgres://u:p@h:1/d"), "postgres://u:***@h:1/d");
  assert.equal(redactUrl("postgres://u@h/d"), "postgres://u@h/d");
});
