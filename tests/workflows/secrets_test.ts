import assert from "node:assert/strict";
import { redact, resolveSecrets, secretRefs } from "../../src/workflows/secrets.ts";

Deno.test("secretRefs() finds ${env:NAME} anywhere in params", () => {
  assert.deepEqual(
    secretRefs({ a: "${env:TOKEN}", b: ["x ${env:USER_NAME} y"], c: { d: "${env:TOKEN}" }, e: 1 }),
    ["TOKEN", "USER_NAME"],
  );
});

Deno.test("resolveSecrets() substitutes values and returns them for redaction", () => {
  const env: Record<string, string> = { TOKEN: "s3cr3t", U: "bob" };
  const r = resolveSecrets({ auth: "Bearer ${env:TOKEN}", who: "${env:U}", n: 2 }, (k) => env[k]);
  assert.deepEqual(r.params, { auth: "Bearer s3cr3t", who: "bob", n: 2 });
  assert.deepEqual(r.secrets, ["s3cr3t", "bob"]);
  assert.throws(
    () => resolveSecrets({ x: "${env:MISSING}" }, () => undefined),
    /MISSING is not set/,
  );
});

Deno.test("redact() hides secrets in plain and JSON-escaped text", () => {
  assert.equal(redact('{"echo":"Bearer s3cr3t"}', ["s3cr3t"]), '{"echo":"Bearer ***"}');
  assert.equal(redact(JSON.stringify({ v: 'a"b' }), ['a"b']), '{"v":"***"}');
  assert.equal(redact("nothing here", ["zzz"]), "nothing here");
});
